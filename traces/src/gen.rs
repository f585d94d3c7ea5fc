//! Synthetic workloads, written in the same `.hkw` format as compiled traces.
//!
//! Entry points: [`random_mixed`], [`producer_consumer`], [`threads`] build a [`WorkloadWriter`] (with its
//! statistics) from parameters; [`RandomMixed`] and [`ProducerConsumer`] are the step generators
//! themselves, public so that the live benchmark (`hakmem bench`) runs *exactly* the op sequence that
//! `hakmem gen` writes, which makes the replay-vs-live harness comparison fair.
//!
//! Randomness: [`Rng`] is xoshiro256++ seeded through SplitMix64 (sound, fast, reproducible across
//! machines); bounded draws use Lemire's multiply-shift with rejection, so they are unbiased. Each value is
//! its own draw: slot and size never share bits.
//!
//! # The generators and the benchmarks they stand in for
//! - **random-mixed**: the memo's `bench_random_mixed N WS SEED` (defaults `1000000 256 42`, 16–1024 B).
//!   One thread, an array of `ws` slots; each step draws a slot and a size; an occupied slot is freed, an
//!   empty one gets `malloc(size)`. Leftovers are freed at the end in slot order.
//! - **producer-consumer**: stands in for xmalloc-test (Lever & Boreham: some threads allocate, others
//!   free through a shared queue) and for message-passing servers. Producer `p` sends items to consumer
//!   `p % consumers`; the consumer frees each item (a cross-thread free) and allocates a small ack that the
//!   producer frees once the queue is `depth` items deep (bounded in-flight items, back-pressure). Unlike
//!   xmalloc-test there is no lock-protected queue in the replay: ordering comes from sync points only.
//! - **threads**: stands in for larson (server threads allocating and freeing, with blocks inherited and
//!   freed by other threads) and mstress: each of T threads runs its own random-mixed loop; a fraction of
//!   the objects it allocates are handed to the next thread, which frees them at its next step. Unlike
//!   larson, threads live for the whole run and sizes are uniform.
//!
//! Multi-threaded generators emit ops in a round-robin sequential schedule (thread 0 step, thread 1 step,
//! ...); statistics are computed on that schedule and it is a valid replay order, so sync points never
//! deadlock.

use crate::stats::StatsTracker;
use crate::workload::{ObjRef, StoredOp, WorkloadWriter};

/// Parameters a generator cannot honour.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct GenError(pub String);

/// xoshiro256++ (Blackman & Vigna), seeded with SplitMix64.
#[derive(Clone, Debug)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// A generator whose whole state derives from `seed`.
    pub fn new(seed: u64) -> Self {
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        Rng {
            s: [next(), next(), next(), next()],
        }
    }

    /// The next 64 random bits.
    #[inline(always)]
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = (s[0].wrapping_add(s[3])).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// A uniform value in `[0, n)` (Lemire's method, unbiased); `n = 0` returns 0.
    #[inline(always)]
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        let mut m = (self.next_u64() as u128) * (n as u128);
        if (m as u64) < n {
            let threshold = n.wrapping_neg() % n;
            while (m as u64) < threshold {
                m = (self.next_u64() as u128) * (n as u128);
            }
        }
        (m >> 64) as u64
    }

    /// `true` with probability `p`.
    #[inline]
    pub fn chance(&mut self, p: f64) -> bool {
        // 53 random bits as a float in [0, 1).
        ((self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)) < p
    }
}

/// Parameters of random-mixed. Defaults are the memo's `bench_random_mixed 1000000 256 42`, 16–1024 B.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RandomMixedParams {
    /// Steps (each one malloc or one free).
    pub iters: u64,
    /// Slots (working set).
    pub ws: u32,
    /// PRNG seed.
    pub seed: u64,
    /// Smallest size, bytes.
    pub min: u64,
    /// Largest size, bytes (inclusive).
    pub max: u64,
}

impl Default for RandomMixedParams {
    fn default() -> Self {
        RandomMixedParams {
            iters: 1_000_000,
            ws: 256,
            seed: 42,
            min: 16,
            max: 1024,
        }
    }
}

/// The random-mixed step generator: each [`RandomMixed::next`] draws a slot in `[0, ws)` and then a size in
/// `[min, max]`, two independent draws, whatever the slot's state.
///
/// The benchmark loop both `gen random-mixed` and the live `bench random-mixed` run:
/// ```
/// # use traces::gen::RandomMixed;
/// let (iters, ws) = (1000u64, 256u32);
/// let mut g = RandomMixed::new(42, ws, 16, 1024);
/// let mut slots: Vec<Option<u64>> = vec![None; ws as usize]; // the benchmark holds pointers here
/// for _ in 0..iters {
///     let (slot, size) = g.next();
///     match slots[slot as usize].take() {
///         Some(_p) => { /* free(p) */ }
///         None => slots[slot as usize] = Some(size), /* = malloc(size) */
///     }
/// }
/// for s in slots.iter_mut() { if let Some(_p) = s.take() { /* free(p) */ } } // slot order
/// ```
#[derive(Clone, Debug)]
pub struct RandomMixed {
    rng: Rng,
    ws: u64,
    min: u64,
    span: u64,
}

impl RandomMixed {
    /// A generator over `ws` slots (at least 1) and sizes `min..=max` (swapped if given backwards).
    pub fn new(seed: u64, ws: u32, min: u64, max: u64) -> Self {
        let (min, max) = if min <= max { (min, max) } else { (max, min) };
        RandomMixed {
            rng: Rng::new(seed),
            ws: ws.max(1) as u64,
            min,
            span: (max - min).saturating_add(1),
        }
    }

    /// From [`RandomMixedParams`].
    pub fn from_params(p: &RandomMixedParams) -> Self {
        Self::new(p.seed, p.ws, p.min, p.max)
    }

    /// The next step: `(slot, size)`. Costs two PRNG draws and two multiplies.
    #[inline(always)]
    #[allow(clippy::should_implement_trait)] // an endless generator, not an iterator
    pub fn next(&mut self) -> (u32, u64) {
        let slot = self.rng.below(self.ws) as u32;
        let size = self.min
            + if self.span == 0 {
                self.rng.next_u64()
            } else {
                self.rng.below(self.span)
            };
        (slot, size)
    }
}

/// Generator slots → workload slots. While the steps can touch every slot (`ws <= steps`), a slot is its own
/// workload slot, so the workload's object table is the live benchmark's array, slot for slot. With more
/// slots than steps, slots are numbered in order of first use instead, so that the workload has at most
/// `steps` object slots: `--ws 100000000 --iters 10` needs 10, not 10^8 (the replayer sizes its object table
/// by them), and `--ws 4294967295` no longer allocates a 4 GiB array here. Either way leftovers are listed
/// in *generator* slot order, the order in which the live benchmark frees them, so both run the same
/// sequence. Memory: `ws` flags, or one map entry per touched slot.
struct SlotMap {
    /// `None`: identity (`live` has `ws` entries).
    dense: Option<std::collections::HashMap<u32, u32>>,
    live: Vec<bool>,
}

impl SlotMap {
    fn new(ws: u32, steps: u64) -> Self {
        let ws = ws.max(1);
        if u64::from(ws) <= steps {
            SlotMap {
                dense: None,
                live: vec![false; ws as usize],
            }
        } else {
            SlotMap {
                dense: Some(Default::default()),
                live: Vec::new(),
            }
        }
    }

    /// The workload slot of generator slot `slot` and whether it holds a live object.
    fn get(&mut self, slot: u32) -> (u32, &mut bool) {
        let d = match &mut self.dense {
            None => slot,
            Some(map) => {
                let next = self.live.len() as u32;
                let d = *map.entry(slot).or_insert(next);
                if d == next {
                    self.live.push(false);
                }
                d
            }
        };
        (d, &mut self.live[d as usize])
    }

    /// Workload slots still live, in generator slot order.
    fn leftovers(&self) -> Vec<u32> {
        match &self.dense {
            None => (0..self.live.len() as u32)
                .filter(|&d| self.live[d as usize])
                .collect(),
            Some(map) => {
                let mut v: Vec<(u32, u32)> = map
                    .iter()
                    .filter(|(_, &d)| self.live[d as usize])
                    .map(|(&s, &d)| (s, d))
                    .collect();
                v.sort_unstable();
                v.into_iter().map(|(_, d)| d).collect()
            }
        }
    }
}

/// Writes random-mixed as a one-thread workload. Local slots are the generator's slots (numbered in order
/// of first use when `ws` exceeds the steps: [`SlotMap`]).
pub fn random_mixed(p: &RandomMixedParams) -> WorkloadWriter {
    let mut w = WorkloadWriter::new(format!(
        "hakmem gen random-mixed --iters {} --ws {} --seed {} --min {} --max {}",
        p.iters, p.ws, p.seed, p.min, p.max
    ));
    let t = w.add_thread(0, 1);
    let mut stats = StatsTracker::new();
    let mut g = RandomMixed::from_params(p);
    let mut slots = SlotMap::new(p.ws, p.iters);
    let mut emit = |w: &mut WorkloadWriter, op: StoredOp| {
        stats.push(t, &op);
        w.push(t, &op);
    };
    for _ in 0..p.iters {
        let (slot, size) = g.next();
        let (d, l) = slots.get(slot);
        let obj = ObjRef::Local(d);
        if *l {
            emit(&mut w, StoredOp::Free { obj });
        } else {
            emit(&mut w, StoredOp::Malloc { obj, size });
        }
        *l = !*l;
    }
    for d in slots.leftovers() {
        emit(
            &mut w,
            StoredOp::Free {
                obj: ObjRef::Local(d),
            },
        );
    }
    w.stats = stats.finish();
    w
}

/// Parameters of producer-consumer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProducerConsumerParams {
    /// Producer threads.
    pub producers: u32,
    /// Consumer threads.
    pub consumers: u32,
    /// Items each producer sends.
    pub items: u64,
    /// Items in flight per producer before it waits for an ack.
    pub depth: u32,
    /// Smallest item size.
    pub min: u64,
    /// Largest item size (inclusive).
    pub max: u64,
    /// Size of the ack a consumer allocates per item.
    pub ack_size: u64,
    /// PRNG seed.
    pub seed: u64,
}

impl Default for ProducerConsumerParams {
    fn default() -> Self {
        ProducerConsumerParams {
            producers: 1,
            consumers: 1,
            items: 500_000,
            depth: 64,
            min: 16,
            max: 1024,
            ack_size: 16,
            seed: 42,
        }
    }
}

/// One step of [`ProducerConsumer`], in the global (round-robin) schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PcStep {
    /// Producer `producer` allocates item `item` of `size` bytes (and hands it to its consumer).
    Produce {
        /// Producer index (thread `producer`).
        producer: u32,
        /// Item number of that producer.
        item: u64,
        /// Bytes.
        size: u64,
    },
    /// Consumer `consumer` frees item `item` of `producer` and allocates its ack.
    Consume {
        /// Consumer index (thread `producers + consumer`).
        consumer: u32,
        /// Producer the item came from.
        producer: u32,
        /// Item number.
        item: u64,
    },
    /// Producer `producer` frees the ack of its item `item` (allocated by its consumer).
    FreeAck {
        /// Producer index.
        producer: u32,
        /// Item whose ack is freed.
        item: u64,
    },
}

/// The producer-consumer schedule: a deterministic sequence of [`PcStep`]s. Each producer, per item:
/// frees the ack of item `i - depth` (if any), then produces item `i`; each consumer, per turn, consumes
/// the oldest unconsumed item of its next producer. Remaining acks are freed at the end.
#[derive(Clone, Debug)]
pub struct ProducerConsumer {
    p: ProducerConsumerParams,
    rng: Rng,
    steps: std::collections::VecDeque<PcStep>,
    /// Per producer: next item to produce, next item its consumer will consume, next ack to free.
    next_item: Vec<u64>,
    next_consume: Vec<u64>,
    next_ack: Vec<u64>,
    round: u64,
    done: bool,
}

impl ProducerConsumer {
    /// A schedule for `p` (producers and consumers at least 1, depth at least 1).
    pub fn new(mut p: ProducerConsumerParams) -> Self {
        p.producers = p.producers.max(1);
        p.consumers = p.consumers.max(1);
        p.depth = p.depth.max(1);
        if p.min > p.max {
            std::mem::swap(&mut p.min, &mut p.max);
        }
        let n = p.producers as usize;
        ProducerConsumer {
            rng: Rng::new(p.seed),
            p,
            steps: Default::default(),
            next_item: vec![0; n],
            next_consume: vec![0; n],
            next_ack: vec![0; n],
            round: 0,
            done: false,
        }
    }

    /// The parameters (normalised).
    pub fn params(&self) -> &ProducerConsumerParams {
        &self.p
    }

    /// Producers of consumer `c`.
    fn producers_of(&self, c: u32) -> impl Iterator<Item = u32> + '_ {
        (0..self.p.producers).filter(move |p| p % self.p.consumers == c)
    }

    /// Schedules one round: every producer one step, every consumer as many items as are ready.
    fn fill(&mut self) {
        let p = self.p;
        let mut progressed = false;
        for prod in 0..p.producers {
            let i = self.next_item[prod as usize];
            if i >= p.items {
                continue;
            }
            // Back-pressure: item i may be produced once the ack of item i - depth exists; free it first.
            if i >= p.depth as u64 {
                let a = i - p.depth as u64;
                if self.next_consume[prod as usize] <= a {
                    continue; // the consumer has not caught up yet
                }
                self.steps.push_back(PcStep::FreeAck {
                    producer: prod,
                    item: a,
                });
                self.next_ack[prod as usize] = a + 1;
            }
            let size = p.min + self.rng.below(p.max - p.min + 1);
            self.steps.push_back(PcStep::Produce {
                producer: prod,
                item: i,
                size,
            });
            self.next_item[prod as usize] = i + 1;
            progressed = true;
        }
        for c in 0..p.consumers {
            let prods: Vec<u32> = self.producers_of(c).collect();
            for prod in prods {
                let j = self.next_consume[prod as usize];
                if j < self.next_item[prod as usize] {
                    self.steps.push_back(PcStep::Consume {
                        consumer: c,
                        producer: prod,
                        item: j,
                    });
                    self.next_consume[prod as usize] = j + 1;
                    progressed = true;
                }
            }
        }
        if !progressed {
            // Everything produced and consumed: free the remaining acks, then stop.
            for prod in 0..p.producers {
                for a in self.next_ack[prod as usize]..self.next_consume[prod as usize] {
                    self.steps.push_back(PcStep::FreeAck {
                        producer: prod,
                        item: a,
                    });
                }
                self.next_ack[prod as usize] = self.next_consume[prod as usize];
            }
            self.done = true;
        }
        self.round += 1;
    }
}

impl Iterator for ProducerConsumer {
    type Item = PcStep;

    fn next(&mut self) -> Option<PcStep> {
        while self.steps.is_empty() {
            if self.done {
                return None;
            }
            self.fill();
        }
        self.steps.pop_front()
    }
}

/// Writes producer-consumer: threads `0..producers` produce, `producers..producers+consumers` consume.
/// Items and acks live in shared slots (item `i` of producer `p` and its ack each have their own).
pub fn producer_consumer(p: &ProducerConsumerParams) -> Result<WorkloadWriter, GenError> {
    let pc = ProducerConsumer::new(*p);
    let q = *pc.params();
    if (q.producers as u128) * (q.items as u128) * 2 > u32::MAX as u128 {
        return Err(GenError(format!(
            "{} producers x {} items need more than 2^32 object slots; lower --items",
            q.producers, q.items
        )));
    }
    let mut w = WorkloadWriter::new(format!(
        "hakmem gen producer-consumer --producers {} --consumers {} --items {} --depth {} --min {} --max {} --ack-size {} --seed {}",
        q.producers, q.consumers, q.items, q.depth, q.min, q.max, q.ack_size, q.seed
    ));
    for t in 0..q.producers + q.consumers {
        w.add_thread(0, t + 1);
    }
    let mut stats = StatsTracker::new();
    let item_slot =
        |prod: u32, item: u64| ObjRef::Shared(((prod as u64 * q.items + item) * 2) as u32);
    let ack_slot =
        |prod: u32, item: u64| ObjRef::Shared(((prod as u64 * q.items + item) * 2 + 1) as u32);
    for step in pc {
        let (t, ops): (usize, Vec<StoredOp>) = match step {
            PcStep::Produce {
                producer,
                item,
                size,
            } => (
                producer as usize,
                vec![StoredOp::Malloc {
                    obj: item_slot(producer, item),
                    size,
                }],
            ),
            PcStep::Consume {
                consumer,
                producer,
                item,
            } => (
                (q.producers + consumer) as usize,
                vec![
                    StoredOp::Free {
                        obj: item_slot(producer, item),
                    },
                    StoredOp::Malloc {
                        obj: ack_slot(producer, item),
                        size: q.ack_size,
                    },
                ],
            ),
            PcStep::FreeAck { producer, item } => (
                producer as usize,
                vec![StoredOp::Free {
                    obj: ack_slot(producer, item),
                }],
            ),
        };
        for op in ops {
            stats.push(t, &op);
            w.push(t, &op);
        }
    }
    w.stats = stats.finish();
    Ok(w)
}

/// Parameters of the `threads` generator.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ThreadsParams {
    /// Threads.
    pub threads: u32,
    /// Random-mixed steps per thread.
    pub iters: u64,
    /// Local slots per thread.
    pub ws: u32,
    /// Smallest size.
    pub min: u64,
    /// Largest size (inclusive).
    pub max: u64,
    /// Fraction (0..=1) of allocations handed to the next thread to free.
    pub remote: f64,
    /// PRNG seed (thread `t` uses `seed + t`).
    pub seed: u64,
}

impl Default for ThreadsParams {
    fn default() -> Self {
        ThreadsParams {
            threads: 4,
            iters: 250_000,
            ws: 256,
            min: 16,
            max: 1024,
            remote: 0.1,
            seed: 42,
        }
    }
}

/// Writes the `threads` workload: T random-mixed threads; with probability `remote` an allocation goes to
/// a fresh shared slot and is freed by thread `(t + 1) % T` at that thread's next step (before its own
/// random-mixed step); otherwise it stays in the thread's local slot. Objects left at the end are freed
/// by their owners.
pub fn threads(p: &ThreadsParams) -> Result<WorkloadWriter, GenError> {
    let n = p.threads.max(1) as usize;
    if (n as u128) * (p.iters as u128) > u32::MAX as u128 {
        return Err(GenError(format!(
            "{n} threads x {} iterations may need more than 2^32 object slots; lower --iters",
            p.iters
        )));
    }
    if !(0.0..=1.0).contains(&p.remote) {
        return Err(GenError(format!(
            "--remote {} is not a fraction in [0, 1]",
            p.remote
        )));
    }
    let mut w = WorkloadWriter::new(format!(
        "hakmem gen threads --threads {} --iters {} --ws {} --min {} --max {} --remote {} --seed {}",
        n, p.iters, p.ws, p.min, p.max, p.remote, p.seed
    ));
    for t in 0..n {
        w.add_thread(0, t as u32 + 1);
    }
    let mut gens: Vec<RandomMixed> = (0..n)
        .map(|t| RandomMixed::new(p.seed.wrapping_add(t as u64), p.ws, p.min, p.max))
        .collect();
    let mut remote_rng = Rng::new(p.seed ^ 0x5EED_F7E4_07E5);
    let mut live: Vec<SlotMap> = (0..n).map(|_| SlotMap::new(p.ws, p.iters)).collect();
    let mut inbox: Vec<std::collections::VecDeque<u32>> = vec![Default::default(); n];
    let mut next_shared = 0u32;
    let mut stats = StatsTracker::new();
    let mut emit = |w: &mut WorkloadWriter, t: usize, op: StoredOp| {
        stats.push(t, &op);
        w.push(t, &op);
    };
    for _ in 0..p.iters {
        for t in 0..n {
            if let Some(s) = inbox[t].pop_front() {
                emit(
                    &mut w,
                    t,
                    StoredOp::Free {
                        obj: ObjRef::Shared(s),
                    },
                );
            }
            let (slot, size) = gens[t].next();
            let (slot, l) = live[t].get(slot);
            if *l {
                emit(
                    &mut w,
                    t,
                    StoredOp::Free {
                        obj: ObjRef::Local(slot),
                    },
                );
                *l = false;
            } else if n > 1 && remote_rng.chance(p.remote) {
                let s = next_shared;
                next_shared += 1;
                emit(
                    &mut w,
                    t,
                    StoredOp::Malloc {
                        obj: ObjRef::Shared(s),
                        size,
                    },
                );
                inbox[(t + 1) % n].push_back(s);
            } else {
                emit(
                    &mut w,
                    t,
                    StoredOp::Malloc {
                        obj: ObjRef::Local(slot),
                        size,
                    },
                );
                *l = true;
            }
        }
    }
    for t in 0..n {
        while let Some(s) = inbox[t].pop_front() {
            emit(
                &mut w,
                t,
                StoredOp::Free {
                    obj: ObjRef::Shared(s),
                },
            );
        }
        for slot in live[t].leftovers() {
            emit(
                &mut w,
                t,
                StoredOp::Free {
                    obj: ObjRef::Local(slot),
                },
            );
        }
    }
    w.stats = stats.finish();
    Ok(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_is_in_range_and_covers_it() {
        let mut r = Rng::new(1);
        let mut seen = [false; 7];
        for _ in 0..1000 {
            let v = r.below(7);
            assert!(v < 7);
            seen[v as usize] = true;
        }
        assert!(seen.iter().all(|s| *s));
    }

    #[test]
    fn random_mixed_is_not_lockstep() {
        // A single LCG draw for slot and size makes runs of ws mallocs then ws frees; independent draws
        // interleave them: the first 256 steps must already contain frees.
        let mut g = RandomMixed::new(42, 256, 16, 1024);
        let mut live = [false; 256];
        let mut frees = 0;
        for _ in 0..256 {
            let (s, size) = g.next();
            assert!((16..=1024).contains(&size));
            if live[s as usize] {
                frees += 1;
            }
            live[s as usize] ^= true;
        }
        assert!(frees > 20, "{frees}");
    }

    #[test]
    fn a_huge_working_set_with_few_steps_makes_few_object_slots() {
        // Was: `--ws 100000000 --iters 10` wrote 10^8 object slots (755 MiB of object table to replay),
        // and `--ws 4294967295` aborted allocating a 4 GiB `live` array.
        for ws in [100_000_000, u32::MAX] {
            let p = RandomMixedParams {
                iters: 10,
                ws,
                ..RandomMixedParams::default()
            };
            let w = random_mixed(&p);
            let h = w.header().unwrap();
            assert!(h.object_slots <= 10, "{}", h.object_slots);
            let t = threads(&ThreadsParams {
                threads: 2,
                iters: 10,
                ws,
                min: 16,
                max: 64,
                remote: 0.5,
                seed: 1,
            })
            .unwrap();
            assert!(t.header().unwrap().object_slots <= 40);
        }
    }

    #[test]
    fn renumbered_slots_free_leftovers_in_generator_slot_order() {
        // The live benchmark frees leftovers in generator slot order; the workload must do the same.
        let p = RandomMixedParams {
            iters: 1001,
            ws: 5000,
            ..RandomMixedParams::default()
        };
        let mut g = RandomMixed::from_params(&p);
        let mut live: Vec<Option<u64>> = vec![None; 5000];
        for _ in 0..p.iters {
            let (s, size) = g.next();
            live[s as usize] = match live[s as usize] {
                Some(_) => None,
                None => Some(size),
            };
        }
        let expect: Vec<u64> = live.iter().flatten().copied().collect();
        let w = random_mixed(&p);
        let bytes = w.threads()[0].bytes();
        let mut pos = 0;
        let mut size_of = std::collections::HashMap::new();
        let mut tail = Vec::new();
        let mut n = 0u64;
        while pos < bytes.len() {
            let op = StoredOp::decode(bytes, &mut pos).unwrap();
            n += 1;
            match op {
                StoredOp::Malloc { obj, size } => {
                    size_of.insert(obj, size);
                }
                StoredOp::Free { obj } if n > p.iters => tail.push(size_of[&obj]),
                _ => {}
            }
        }
        assert_eq!(tail, expect);
    }
}
