// Which output frames of one Winograd convolution are computed together along time (issue 6): a causal 3-tap
// convolution can give 2 or 4 consecutive output frames from 4 or 6 transformed input frames with Winograd F(2,3) /
// F(4,3) in time (Sources/CKernels/winograd_time.c): 4 products per 2 frames or 6 per 4, instead of 3 per frame.
// The decoder's top two resolutions, where nearly all of its work is, run 8 frames per chunk: 2 groups of 4.

/// The order in which `winogradConvolve` computes its output frames, and which transformed weights that needs.
///
/// Single frames (the 3 taps, or fewer when leading taps read the same replicated frame and merge through prefix
/// sums) come first, where a causal convolution's replicated first frame makes them cheap; then pairs, then groups
/// of 4. The plan is the cheapest one, in transform-domain products, whose transformed weights fit the budget; on
/// ties the first candidate (fewer single frames).
struct WinogradTimePlan: Equatable {
    /// Output frames `start ..< start + count` computed together (count 1, 2 or 4).
    struct Group: Equatable {
        var start: Int
        var count: Int
    }

    /// The groups, in increasing order and covering every output frame once.
    var items: [Group]
    /// Transform-domain products per transform element and output-channel strip, in units of one K = C product.
    var products: Int
    /// Largest group (1, 2 or 4).
    var largestGroup: Int { items.map(\.count).max() ?? 1 }
    var usesSingles: Bool { items.contains { $0.count == 1 } }
    var usesPairs: Bool { items.contains { $0.count == 2 } }
    var usesQuads: Bool { items.contains { $0.count == 4 } }

    /// Transformed-weight tap sets the plan needs, in units of one tap's weights (3 for the spatial taps of single
    /// frames, 3 more for their prefix sums when `merge`, 4 for pairs, 6 for groups of 4).
    func weightUnits(kt: Int, merge: Bool) -> Int {
        (usesSingles ? kt * (merge ? 2 : 1) : 0) + (usesPairs ? 4 : 0) + (usesQuads ? 6 : 0)
    }

    /// The plan for `frames` (virtual input frames) of a convolution with `kt` time taps. `merge`: leading taps on
    /// one transformed frame merge through prefix sums (as `winogradConvolve` does for a causal convolution's
    /// replicated first frame). `largestGroup`: 4 (F(2,3) and F(4,3) in time may be used), 2 (F(2,3) only) or 1
    /// (neither); groups need kt = 3.
    /// `unitFloats`: floats of one tap's transformed weights; `budgetFloats`: the most the transformed weights may
    /// take, raised to what single frames alone need.
    static func make(frames: [VirtualFrame], kt: Int, merge: Bool, largestGroup: Int, unitFloats: Int,
                     budgetFloats: Int) -> WinogradTimePlan {
        let to = frames.count - kt + 1
        func singleCost(_ ot: Int) -> Int {
            var run = 1
            while merge && run < kt && frames[ot + run] == frames[ot] { run += 1 }
            return run > 1 ? 1 + kt - run : kt
        }
        func plan(singles: Int, pairs: Int, quads: Int) -> WinogradTimePlan {
            var items: [Group] = []
            var cost = 0, ot = 0
            for _ in 0..<singles { items.append(Group(start: ot, count: 1)); cost += singleCost(ot); ot += 1 }
            for _ in 0..<pairs { items.append(Group(start: ot, count: 2)); cost += 4; ot += 2 }
            for _ in 0..<quads { items.append(Group(start: ot, count: 4)); cost += 6; ot += 4 }
            return WinogradTimePlan(items: items, products: cost)
        }
        let base = plan(singles: to, pairs: 0, quads: 0)
        guard largestGroup >= 2 && kt == 3 && to >= 2 else { return base }
        // Up to 3 leading single frames (after a replicated first frame the first two cost 1 + 2 products, less
        // than a pair), the rest in pairs, or in groups of 4 with at most one pair and one more single before them.
        var candidates = [base]
        for s in 0...min(to, 3) {
            let rest = to - s
            if rest % 2 == 0 { candidates.append(plan(singles: s, pairs: rest / 2, quads: 0)) }
            if largestGroup >= 4 && rest >= 4 {
                candidates.append(plan(singles: s + rest % 4 % 2, pairs: rest % 4 / 2, quads: rest / 4))
            }
        }
        let budget = max(base.weightUnits(kt: kt, merge: merge) * unitFloats, budgetFloats)
        return candidates.filter { $0.weightUnits(kt: kt, merge: merge) * unitFloats <= budget }
            .min { $0.products < $1.products } ?? base
    }
}
