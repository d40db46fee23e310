//! Top-k selection that returns indices in exactly the order PyTorch's CPU `torch.topk` does,
//! ties and NaN included.
//!
//! transformers routes each token of a mixture-of-experts layer with
//! `torch.topk(router_probs, k, dim=-1)`. When experts tie — a zero-initialised router gives every
//! expert the same probability, softmax of equal logits gives bit-identical values — the experts
//! chosen, and the order of their weights, are whatever PyTorch's kernel leaves behind. Any
//! "stable" or "lowest index first" rule disagrees (8 equal values, k = 2: torch picks `[6, 5]`),
//! so a parity test against transformers needs the same algorithm, not just the same set.
//!
//! Reference: PyTorch `aten/src/ATen/native/cpu/SortingKernel.cpp`, `topk_impl_loop`. It fills
//! `queue = [(value, index) for index in 0..n]` and orders with
//! `comp(x, y) = (isnan(x) && !isnan(y)) || x > y` (NaN ranks above everything):
//! - `k * 64 <= n`: `std::partial_sort(queue, queue + k, queue + n, comp)`;
//! - otherwise `std::nth_element(queue, queue + k - 1, queue + n, comp)`, then (sorted) `std::sort`
//!   of the first `k - 1` entries — the k-th stays where nth_element put it.
//!
//! The answer is the first k indices. The functions below port libstdc++'s algorithms
//! (`<bits/stl_algo.h>`, `<bits/stl_heap.h>`) step by step, because the tie order depends on every
//! swap: median-of-three pivot moved to the front, unguarded Hoare partition, introselect and
//! introsort with a depth limit of `2 * floor(log2 n)` and heap fallbacks, a 16-element insertion
//! sort threshold, and the hole-moving `__adjust_heap`.
//!
//! Deviation to know about: this matches PyTorch builds that use libstdc++ (Linux wheels). macOS
//! builds use libc++, whose algorithms differ, and CUDA `topk` is a different kernel altogether;
//! either may order ties differently. The oracle is `tests/fixtures/reference/topk-ties.json`,
//! written by `tests/fixtures/make_topk_fixture.py`.

/// libstdc++'s `_S_threshold`: introsort stops partitioning ranges of at most this many elements.
const INSERTION_THRESHOLD: usize = 16;

/// `torch.topk(values, k, dim=-1, largest=true, sorted=true).indices` as computed on the CPU:
/// the indices of the k largest values, largest first, NaN ranked above +inf, ties broken as
/// PyTorch's kernel breaks them. `k` is clamped to `values.len()`; `k == 0` gives an empty vector.
pub fn topk_like_torch(values: &[f32], k: usize) -> Vec<usize> {
    let n = values.len();
    let k = k.min(n);
    if k == 0 {
        return Vec::new();
    }
    let mut queue: Vec<(f32, usize)> = values.iter().copied().zip(0..).collect();
    let mut comp = |x: &(f32, usize), y: &(f32, usize)| -> bool {
        (x.0.is_nan() && !y.0.is_nan()) || x.0 > y.0
    };
    if k.saturating_mul(64) <= n {
        partial_sort(&mut queue, k, &mut comp);
    } else {
        nth_element(&mut queue, k - 1, &mut comp);
        sort(&mut queue[..k - 1], &mut comp);
    }
    queue[..k].iter().map(|&(_, index)| index).collect()
}

/// `std::__lg`: floor(log2 n) for n > 0.
fn floor_log2(n: usize) -> usize {
    n.ilog2() as usize
}

/// `std::partial_sort(v, v + middle, v + len)`: the `middle` smallest (under `comp`) elements,
/// sorted, at the front.
fn partial_sort<T: Copy, F: FnMut(&T, &T) -> bool>(v: &mut [T], middle: usize, comp: &mut F) {
    heap_select(v, middle, comp);
    sort_heap(&mut v[..middle], comp);
}

/// `std::nth_element(v, v + nth, v + len)`.
fn nth_element<T: Copy, F: FnMut(&T, &T) -> bool>(v: &mut [T], nth: usize, comp: &mut F) {
    if nth >= v.len() {
        return;
    }
    let depth_limit = 2 * floor_log2(v.len());
    introselect(v, nth, depth_limit, comp);
}

/// `std::sort(v, v + len)`: introsort down to runs of 16, then one insertion sort pass.
fn sort<T: Copy, F: FnMut(&T, &T) -> bool>(v: &mut [T], comp: &mut F) {
    if v.is_empty() {
        return;
    }
    let depth_limit = 2 * floor_log2(v.len());
    introsort_loop(v, depth_limit, comp);
    final_insertion_sort(v, comp);
}

/// `std::__introselect`: quickselect on the side holding `nth`; when the depth limit runs out,
/// a heap select of the first `nth + 1` and a swap put the nth element in place.
fn introselect<T: Copy, F: FnMut(&T, &T) -> bool>(
    v: &mut [T],
    nth: usize,
    mut depth_limit: usize,
    comp: &mut F,
) {
    let (mut first, mut last) = (0, v.len());
    while last - first > 3 {
        if depth_limit == 0 {
            heap_select(&mut v[first..last], nth - first + 1, comp);
            v.swap(first, nth);
            return;
        }
        depth_limit -= 1;
        let cut = first + unguarded_partition_pivot(&mut v[first..last], comp);
        if cut <= nth {
            first = cut;
        } else {
            last = cut;
        }
    }
    insertion_sort(&mut v[first..last], comp);
}

/// `std::__introsort_loop`: recurse on the right part, loop on the left, until runs are short;
/// past the depth limit the run is heap-sorted (`std::__partial_sort(first, last, last)`).
fn introsort_loop<T: Copy, F: FnMut(&T, &T) -> bool>(
    v: &mut [T],
    mut depth_limit: usize,
    comp: &mut F,
) {
    let mut last = v.len();
    while last > INSERTION_THRESHOLD {
        if depth_limit == 0 {
            partial_sort(&mut v[..last], last, comp);
            return;
        }
        depth_limit -= 1;
        let cut = unguarded_partition_pivot(&mut v[..last], comp);
        introsort_loop(&mut v[cut..last], depth_limit, comp);
        last = cut;
    }
}

/// `std::__unguarded_partition_pivot`: the median of `v[1]`, `v[len / 2]`, `v[len - 1]` goes to
/// `v[0]` and pivots a partition of `v[1..]`. Returns the cut. Needs `len >= 4`.
fn unguarded_partition_pivot<T: Copy, F: FnMut(&T, &T) -> bool>(
    v: &mut [T],
    comp: &mut F,
) -> usize {
    let len = v.len();
    move_median_to_first(v, 0, 1, len / 2, len - 1, comp);
    unguarded_partition(v, 1, len, 0, comp)
}

/// `std::__move_median_to_first`: swaps the median of `v[a]`, `v[b]`, `v[c]` into `v[result]`.
fn move_median_to_first<T: Copy, F: FnMut(&T, &T) -> bool>(
    v: &mut [T],
    result: usize,
    a: usize,
    b: usize,
    c: usize,
    comp: &mut F,
) {
    let median = if comp(&v[a], &v[b]) {
        if comp(&v[b], &v[c]) {
            b
        } else if comp(&v[a], &v[c]) {
            c
        } else {
            a
        }
    } else if comp(&v[a], &v[c]) {
        a
    } else if comp(&v[b], &v[c]) {
        c
    } else {
        b
    };
    v.swap(result, median);
}

/// `std::__unguarded_partition`: Hoare partition of `v[first..last]` around `v[pivot]` (which
/// lies outside the range). Both scans stop on elements equal to the pivot, which is what spreads
/// ties across both sides.
fn unguarded_partition<T: Copy, F: FnMut(&T, &T) -> bool>(
    v: &mut [T],
    mut first: usize,
    mut last: usize,
    pivot: usize,
    comp: &mut F,
) -> usize {
    loop {
        while comp(&v[first], &v[pivot]) {
            first += 1;
        }
        last -= 1;
        while comp(&v[pivot], &v[last]) {
            last -= 1;
        }
        if first >= last {
            return first;
        }
        v.swap(first, last);
        first += 1;
    }
}

/// `std::__insertion_sort`: an element smaller than `v[0]` is moved straight to the front; the
/// others are inserted with `unguarded_linear_insert`, which `v[0]` bounds.
fn insertion_sort<T: Copy, F: FnMut(&T, &T) -> bool>(v: &mut [T], comp: &mut F) {
    for i in 1..v.len() {
        if comp(&v[i], &v[0]) {
            let value = v[i];
            v.copy_within(0..i, 1);
            v[0] = value;
        } else {
            unguarded_linear_insert(v, i, comp);
        }
    }
}

/// `std::__unguarded_linear_insert`: shifts `v[last]` left past every larger element. Some
/// element before it must not be larger (the caller guarantees one), so the scan stops in bounds.
fn unguarded_linear_insert<T: Copy, F: FnMut(&T, &T) -> bool>(
    v: &mut [T],
    mut last: usize,
    comp: &mut F,
) {
    let value = v[last];
    let mut next = last - 1;
    while comp(&value, &v[next]) {
        v[last] = v[next];
        last = next;
        next -= 1;
    }
    v[last] = value;
}

/// `std::__final_insertion_sort`: after introsort, the smallest element sits in the first 16, so
/// everything past them can be inserted unguarded.
fn final_insertion_sort<T: Copy, F: FnMut(&T, &T) -> bool>(v: &mut [T], comp: &mut F) {
    if v.len() > INSERTION_THRESHOLD {
        insertion_sort(&mut v[..INSERTION_THRESHOLD], comp);
        for i in INSERTION_THRESHOLD..v.len() {
            unguarded_linear_insert(v, i, comp);
        }
    } else {
        insertion_sort(v, comp);
    }
}

/// `std::__heap_select`: a max-heap (under `comp`) of `v[..middle]`; every later element smaller
/// than its top replaces the top, the old top going to that element's slot.
fn heap_select<T: Copy, F: FnMut(&T, &T) -> bool>(v: &mut [T], middle: usize, comp: &mut F) {
    make_heap(&mut v[..middle], comp);
    for i in middle..v.len() {
        if comp(&v[i], &v[0]) {
            pop_heap(v, middle, i, comp);
        }
    }
}

/// `std::__make_heap`: `adjust_heap` of every parent, last parent first.
fn make_heap<T: Copy, F: FnMut(&T, &T) -> bool>(heap: &mut [T], comp: &mut F) {
    let len = heap.len();
    if len < 2 {
        return;
    }
    let mut parent = (len - 2) / 2;
    loop {
        let value = heap[parent];
        adjust_heap(heap, parent, len, value, comp);
        if parent == 0 {
            return;
        }
        parent -= 1;
    }
}

/// `std::__sort_heap`: pop the top to the end of the shrinking heap until one element is left.
fn sort_heap<T: Copy, F: FnMut(&T, &T) -> bool>(heap: &mut [T], comp: &mut F) {
    let mut last = heap.len();
    while last > 1 {
        last -= 1;
        pop_heap(heap, last, last, comp);
    }
}

/// `std::__pop_heap(first, first + heap_len, first + result)`: the top of the heap `v[..heap_len]`
/// goes to `v[result]`, and the element that was there is sifted into the heap from the root.
fn pop_heap<T: Copy, F: FnMut(&T, &T) -> bool>(
    v: &mut [T],
    heap_len: usize,
    result: usize,
    comp: &mut F,
) {
    let value = v[result];
    v[result] = v[0];
    adjust_heap(&mut v[..heap_len], 0, heap_len, value, comp);
}

/// `std::__adjust_heap`: moves the hole at `hole` all the way down, always to the larger child
/// (the right one unless the left is larger), then sifts `value` back up from the bottom with
/// `push_heap`. A heap of even length has one parent with a single child, handled after the loop.
fn adjust_heap<T: Copy, F: FnMut(&T, &T) -> bool>(
    heap: &mut [T],
    mut hole: usize,
    len: usize,
    value: T,
    comp: &mut F,
) {
    let top = hole;
    let mut second_child = hole;
    while second_child < len.saturating_sub(1) / 2 {
        second_child = 2 * (second_child + 1);
        if comp(&heap[second_child], &heap[second_child - 1]) {
            second_child -= 1;
        }
        heap[hole] = heap[second_child];
        hole = second_child;
    }
    if len >= 2 && len.is_multiple_of(2) && second_child == (len - 2) / 2 {
        second_child = 2 * (second_child + 1);
        heap[hole] = heap[second_child - 1];
        hole = second_child - 1;
    }
    push_heap(heap, hole, top, value, comp);
}

/// `std::__push_heap`: sifts `value` up from `hole` while its parent is smaller, not above `top`.
fn push_heap<T: Copy, F: FnMut(&T, &T) -> bool>(
    heap: &mut [T],
    mut hole: usize,
    top: usize,
    value: T,
    comp: &mut F,
) {
    while hole > top {
        let parent = (hole - 1) / 2;
        if !comp(&heap[parent], &value) {
            break;
        }
        heap[hole] = heap[parent];
        hole = parent;
    }
    heap[hole] = value;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_torch_results() {
        // (values, k, torch 2.x CPU indices)
        let all = |n: usize| vec![0.0_f32; n];
        let table: Vec<(Vec<f32>, usize, Vec<usize>)> = vec![
            (all(8), 2, vec![6, 5]),
            (all(32), 8, vec![20, 23, 22, 21, 18, 17, 24, 19]),
            (all(64), 8, vec![44, 41, 42, 43, 46, 47, 40, 45]),
            (all(128), 8, vec![84, 87, 86, 85, 82, 81, 88, 83]),
            (all(4), 2, vec![2, 3]),
            (vec![0.1, 0.3, 0.3, 0.3], 2, vec![2, 3]),
            (vec![0.3, 0.1, 0.3, 0.2, 0.3, 0.3], 3, vec![2, 4, 0]),
        ];
        for (values, k, expected) in table {
            assert_eq!(topk_like_torch(&values, k), expected, "{values:?}, k = {k}");
        }
    }

    #[test]
    fn k_is_clamped_and_zero_is_empty() {
        assert!(topk_like_torch(&[1.0, 2.0], 0).is_empty());
        assert!(topk_like_torch(&[], 3).is_empty());
        assert_eq!(topk_like_torch(&[1.0, 3.0, 2.0], 10), vec![1, 2, 0]);
    }

    #[test]
    fn nan_ranks_above_infinity() {
        let values = [1.0, f32::NAN, f32::INFINITY, f32::NEG_INFINITY];
        assert_eq!(topk_like_torch(&values, 2), vec![1, 2]);
    }

    /// Whatever the tie order, the values picked must be the k largest, in non-increasing order.
    #[test]
    fn picks_the_largest_values_on_both_paths() {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for n in [1_usize, 5, 17, 33, 64, 200, 1000] {
            for k in [1_usize, 2, 3, 15, 16, 17, 18, 40, 1000] {
                let values: Vec<f32> = (0..n).map(|_| (next() % 7) as f32).collect();
                let got: Vec<f32> = topk_like_torch(&values, k)
                    .iter()
                    .map(|&i| values[i])
                    .collect();
                let mut expected = values.clone();
                expected.sort_by(|a, b| b.total_cmp(a));
                expected.truncate(k.min(n));
                assert_eq!(got, expected, "n = {n}, k = {k}");
            }
        }
    }

    /// The depth-limit fallbacks (heap select in introselect, heap sort in introsort) with the
    /// limit forced to zero. The fixture's `select-killer` rows reach the first one honestly
    /// and pin its tie order; the second needs more than ~40 entries to sort, beyond MoE k.
    #[test]
    fn heap_fallbacks_sort_correctly() {
        for n in [20_usize, 64, 257] {
            let mut v: Vec<usize> = (0..n).collect();
            let mut comp = |a: &usize, b: &usize| a < b;
            // depth limit 0 forces the fallbacks directly
            introselect(&mut v, n / 3, 0, &mut comp);
            assert_eq!(v[n / 3], n / 3);
            assert!(v[..n / 3].iter().all(|&x| x < n / 3));
            v.reverse();
            introsort_loop(&mut v, 0, &mut comp);
            final_insertion_sort(&mut v, &mut comp);
            assert!(v.windows(2).all(|w| w[0] < w[1]));
        }
    }

    #[derive(Debug, serde::Deserialize)]
    struct Fixture {
        schema_version: u32,
        cases: usize,
        rows: Vec<FixtureRow>,
    }

    #[derive(Debug, serde::Deserialize)]
    struct FixtureRow {
        name: String,
        values: Option<Vec<f32>>,
        bits: Option<Vec<u32>>,
        topk: Vec<FixtureCase>,
    }

    #[derive(Debug, serde::Deserialize)]
    struct FixtureCase {
        k: usize,
        indices: Vec<usize>,
    }

    #[test]
    fn matches_torch_fixture() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/reference/topk-ties.json"
        );
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("{path}: {e} (run tests/fixtures/make_topk_fixture.py)"));
        let fixture: Fixture = serde_json::from_str(&text).expect("topk fixture parses");
        assert_eq!(fixture.schema_version, 1, "{path}: unknown schema_version");
        let mut checked = 0;
        let mut failures = Vec::new();
        for row in &fixture.rows {
            let values: Vec<f32> = match (&row.values, &row.bits) {
                (Some(values), None) => values.clone(),
                (None, Some(bits)) => bits.iter().map(|&b| f32::from_bits(b)).collect(),
                _ => panic!("{}: needs exactly one of values and bits", row.name),
            };
            for case in &row.topk {
                let got = topk_like_torch(&values, case.k);
                if got != case.indices {
                    failures.push(format!(
                        "{} k={}: torch {:?}, ours {:?}",
                        row.name, case.k, case.indices, got
                    ));
                }
                checked += 1;
            }
        }
        assert_eq!(
            checked, fixture.cases,
            "{path}: case count differs from its header"
        );
        assert!(
            failures.is_empty(),
            "{} of {checked} cases differ:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }
}
