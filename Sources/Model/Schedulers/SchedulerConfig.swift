// The scheduler configuration of a CogVideoX pipeline: `scheduler/scheduler_config.json` (or the same JSON text
// stored in our GGUF file under `cogvideox.scheduler.config`). Mirrors the constructor of diffusers'
// CogVideoXDDIMScheduler / CogVideoXDPMScheduler (diffusers 0.42.1, schedulers/scheduling_ddim_cogvideox.py);
// absent keys take the constructor defaults (not the shipped values: the Hub files spell every key).
import GGUFLike
import SafeTensors

/// Why a scheduler configuration or a scheduler call was rejected.
public enum SchedulerError: Error, Equatable, CustomStringConvertible {
    case invalidJSON(String)
    case notAnObject(found: String)
    case wrongType(key: String, expected: String, found: String)
    case unsupportedValue(key: String, value: String, supported: [String])
    case outOfRange(key: String, value: String, requirement: String)
    case missingMetadata(key: String)
    case invalidStepCount(Int, trainTimesteps: Int)
    case timestepOutOfRange(Int, trainTimesteps: Int)
    case shapeMismatch(what: String, expected: [Int], found: [Int])
    case invalidStrength(Double)

    public var description: String {
        switch self {
        case .invalidJSON(let m): return "the scheduler config is not valid JSON: \(m)"
        case .notAnObject(let k): return "the scheduler config must be a JSON object, found a \(k)"
        case .wrongType(let key, let e, let f): return "scheduler config key '\(key)' must be \(e), found \(f)"
        case .unsupportedValue(let key, let v, let s):
            return "scheduler config key '\(key)' has unsupported value '\(v)' (supported: \(s.joined(separator: ", ")))"
        case .outOfRange(let key, let v, let r): return "scheduler config key '\(key)' = \(v) is out of range: \(r)"
        case .missingMetadata(let key): return "the GGUF file has no scheduler config (metadata key '\(key)')"
        case .invalidStepCount(let n, let t):
            return "the number of inference steps must be between 1 and \(t) (num_train_timesteps), got \(n)"
        case .timestepOutOfRange(let t, let n): return "timestep \(t) is outside 0..<\(n)"
        case .shapeMismatch(let w, let e, let f): return "\(w) has shape \(f), expected \(e)"
        case .invalidStrength(let s): return "strength must be in [0, 1], got \(s)"
        }
    }
}

/// Parsed `scheduler_config.json`. Field names are the JSON keys in camel case.
public struct SchedulerConfig: Sendable, Equatable {
    public enum BetaSchedule: String, Sendable, CaseIterable { case linear, scaledLinear = "scaled_linear" }
    public enum PredictionType: String, Sendable, CaseIterable {
        case epsilon, sample, vPrediction = "v_prediction"
    }
    public enum TimestepSpacing: String, Sendable, CaseIterable { case linspace, leading, trailing }

    public var numTrainTimesteps = 1000
    public var betaStart = 0.00085
    public var betaEnd = 0.012
    public var betaSchedule = BetaSchedule.scaledLinear
    public var setAlphaToOne = true
    public var stepsOffset = 0
    public var predictionType = PredictionType.epsilon
    public var timestepSpacing = TimestepSpacing.leading
    public var rescaleBetasZeroSNR = false
    public var snrShiftScale = 3.0
    /// `_class_name` when present (`CogVideoXDDIMScheduler`; every shipped repository names DDIM, the DPM
    /// scheduler is a caller's choice on the same config).
    public var className: String?

    /// The constructor defaults of diffusers' CogVideoX schedulers.
    public init() {}

    /// The configuration shipped with the CogVideoX repositories (spec §5.1); `snrShiftScale` is 3.0 for 2b,
    /// 1.0 for the 5b and 1.5 models.
    public static func cogVideoX(snrShiftScale: Double) -> SchedulerConfig {
        var c = SchedulerConfig()
        c.predictionType = .vPrediction
        c.timestepSpacing = .trailing
        c.rescaleBetasZeroSNR = true
        c.snrShiftScale = snrShiftScale
        return c
    }

    /// Reads the JSON text of `scheduler_config.json`.
    public init(jsonText: String) throws {
        let value: JSONValue
        do { value = try JSONParser.parse(jsonText) } catch { throw SchedulerError.invalidJSON("\(error)") }
        try self.init(json: value)
    }

    /// Reads a scheduler config file.
    public init(contentsOf path: String) throws {
        let value: JSONValue
        do {
            let bytes = try MappedFile(path: path)
            value = try JSONParser.parse(bytes.bytes)
        } catch let e as JSONError { throw SchedulerError.invalidJSON("\(path): \(e)") }
        try self.init(json: value)
    }

    /// Reads the config stored in a CogVideoX GGUF pipeline file (`cogvideox.scheduler.config`).
    public init(gguf: GGUFFile) throws {
        guard let text = gguf[CogVideoXGGUFKeys.schedulerConfig]?.string else {
            throw SchedulerError.missingMetadata(key: CogVideoXGGUFKeys.schedulerConfig)
        }
        try self.init(jsonText: text)
    }

    public init(json: JSONValue) throws {
        guard let o = json.object else { throw SchedulerError.notAnObject(found: json.kindName) }
        func int(_ key: String) throws -> Int? {
            guard let v = o[key], !v.isNull else { return nil }
            if let i = v.int { return i }
            if let d = v.double, d.rounded() == d, let i = Int(exactly: d) { return i }
            throw SchedulerError.wrongType(key: key, expected: "an integer", found: v.kindName)
        }
        func double(_ key: String) throws -> Double? {
            guard let v = o[key], !v.isNull else { return nil }
            guard let d = v.double else { throw SchedulerError.wrongType(key: key, expected: "a number", found: v.kindName) }
            return d
        }
        func bool(_ key: String) throws -> Bool? {
            guard let v = o[key], !v.isNull else { return nil }
            guard let b = v.bool else { throw SchedulerError.wrongType(key: key, expected: "a boolean", found: v.kindName) }
            return b
        }
        func choice<E: RawRepresentable & CaseIterable>(_ key: String, _: E.Type) throws -> E? where E.RawValue == String {
            guard let v = o[key], !v.isNull else { return nil }
            guard let s = v.string else { throw SchedulerError.wrongType(key: key, expected: "a string", found: v.kindName) }
            guard let e = E(rawValue: s) else {
                throw SchedulerError.unsupportedValue(key: key, value: s, supported: E.allCases.map(\.rawValue))
            }
            return e
        }
        if let v = try int("num_train_timesteps") { numTrainTimesteps = v }
        if let v = try double("beta_start") { betaStart = v }
        if let v = try double("beta_end") { betaEnd = v }
        if let v = try choice("beta_schedule", BetaSchedule.self) { betaSchedule = v }
        if let v = try bool("set_alpha_to_one") { setAlphaToOne = v }
        if let v = try int("steps_offset") { stepsOffset = v }
        if let v = try choice("prediction_type", PredictionType.self) { predictionType = v }
        if let v = try choice("timestep_spacing", TimestepSpacing.self) { timestepSpacing = v }
        if let v = try bool("rescale_betas_zero_snr") { rescaleBetasZeroSNR = v }
        if let v = try double("snr_shift_scale") { snrShiftScale = v }
        if let v = o["_class_name"]?.string { className = v }
        if let v = o["trained_betas"], !v.isNull {
            throw SchedulerError.unsupportedValue(key: "trained_betas", value: v.kindName, supported: ["null"])
        }
        guard (2...100_000).contains(numTrainTimesteps) else {
            throw SchedulerError.outOfRange(key: "num_train_timesteps", value: "\(numTrainTimesteps)",
                                            requirement: "between 2 and 100000")
        }
        guard betaStart >= 0, betaEnd >= betaStart, betaEnd < 1 else {
            throw SchedulerError.outOfRange(key: "beta_end", value: "\(betaEnd)",
                                            requirement: "0 <= beta_start (\(betaStart)) <= beta_end < 1")
        }
        guard snrShiftScale > 0, snrShiftScale.isFinite else {
            throw SchedulerError.outOfRange(key: "snr_shift_scale", value: "\(snrShiftScale)", requirement: "> 0")
        }
    }
}
