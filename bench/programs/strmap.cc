// strmap — C++ containers of strings, the way a lot of C++ is written: reads text from stdin and builds a
// bigram index (std::unordered_map<std::string, std::vector<std::string>>: word -> the words that follow
// it), then per word sorts and deduplicates its followers and counts them into a std::map<std::string,
// size_t>, and finally builds a std::vector of std::pair<std::string, size_t> sorted by count. Every string
// is its own allocation (std::string's small-string buffer holds up to 15 characters; longer words and all
// the containers' nodes and arrays go to operator new, i.e. malloc).
//
// Usage: strmap [PASSES 2] < TEXT
// Prints the number of words, distinct words and bigrams, the 10 words with most distinct followers, and a
// checksum.
#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

static uint64_t mix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

int main(int argc, char **argv) {
    long passes = 2;
    if (argc > 2) { std::fprintf(stderr, "error: usage: strmap [PASSES] < TEXT\n"); return 2; }
    if (argc == 2) {
        char *end = nullptr;
        passes = std::strtol(argv[1], &end, 10);
        if (*end || passes < 1 || passes > 1000) { std::fprintf(stderr, "error: PASSES must be in [1, 1000], got '%s'\n", argv[1]); return 2; }
    }
    std::ios::sync_with_stdio(false);
    std::vector<std::string> words;
    std::string w;
    while (std::cin >> w) {
        std::string clean;
        for (char c : w)
            if (std::isalnum(static_cast<unsigned char>(c))) clean += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (!clean.empty()) words.push_back(std::move(clean));
    }
    uint64_t sum = 0;
    size_t distinct = 0, bigrams = 0;
    std::vector<std::pair<std::string, size_t>> ranked;
    for (long pass = 0; pass < passes; pass++) {
        std::unordered_map<std::string, std::vector<std::string>> follow;
        for (size_t i = 0; i + 1 < words.size(); i++) follow[words[i]].push_back(words[i + 1]);
        std::map<std::string, size_t> fanout;
        bigrams = 0;
        for (auto &kv : follow) {
            auto &v = kv.second;
            std::sort(v.begin(), v.end());
            v.erase(std::unique(v.begin(), v.end()), v.end());
            fanout[kv.first] = v.size();
            bigrams += v.size();
            for (auto &s : v) sum += mix64(std::hash<std::string>{}(s) ^ v.size());
        }
        distinct = fanout.size();
        ranked.assign(fanout.begin(), fanout.end());
        std::stable_sort(ranked.begin(), ranked.end(), [](const auto &a, const auto &b) { return a.second > b.second; });
    }
    std::printf("words %zu distinct %zu bigrams %zu\n", words.size(), distinct, bigrams);
    for (size_t i = 0; i < ranked.size() && i < 10; i++) std::printf("%8zu %s\n", ranked[i].second, ranked[i].first.c_str());
    std::printf("checksum %016llx\n", static_cast<unsigned long long>(sum));
    return 0;
}
