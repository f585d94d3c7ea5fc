# Hash and string churn in Perl: builds hashes of strings (formatted keys, concatenated values), splits
# and joins, deletes half the keys each round, sorts keys, and prints a checksum.
use strict;
use warnings;

my $rounds = shift // 8;
my $n = shift // 60000;
my %h;
my $sum = 0;
for my $r (1 .. $rounds) {
    for my $i (1 .. $n) {
        my $k = sprintf("key%07d", ($i * 7919 + $r) % ($n * 2));
        $h{$k} .= "v$r-$i,";
    }
    my @keys = sort keys %h;
    for my $k (@keys[0 .. $#keys / 2]) {
        my @parts = split /,/, delete $h{$k};
        $sum = ($sum * 31 + scalar(@parts) + length(join("+", reverse @parts))) % 1000000007;
    }
    my %count;
    $count{substr($_, 0, 6)}++ for keys %h;
    $sum = ($sum + scalar(keys %count)) % 1000000007;
}
print "perl_hash $rounds $n ", scalar(keys %h), " $sum\n";
