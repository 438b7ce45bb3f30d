// The module tree. A layer is a `Module` subclass; its parameters and children are found by reflection over its
// stored properties, so the checkpoint key of every parameter is spelled next to the property that holds it
// (the mlx-swift `@ModuleInfo` design, shared/STYLE.md):
//
//     final class Attention: Module {
//         @ModuleInfo(key: "to_q") var toQ: Linear
//         @ModuleInfo(key: "to_out.0") var toOut: Linear
//     }
//
// A property without a wrapper uses its own name as the key; arrays of modules add `.0`, `.1`, …

/// A declared parameter: its key inside the owning module, the shape the config implies, and once bound, the weight.
public final class Parameter {
    /// PyTorch-order shape the module expects.
    public let shape: [Int]
    /// The bound weight (nil until a loader binds a source).
    public var value: WeightTensor?

    public init(shape: [Int]) { self.shape = shape }

    /// The bound weight; throws `ModuleError.unbound` when the loader has not bound it.
    public func weight(_ name: @autoclosure () -> String = "parameter") throws -> WeightTensor {
        guard let v = value else { throw ModuleError.unbound(name()) }
        return v
    }
}

public enum ModuleError: Error, CustomStringConvertible, Equatable {
    case unbound(String)
    case shapeMismatch(String, expected: [Int], found: [Int])
    case invalidInput(String)

    public var description: String {
        switch self {
        case .unbound(let n): return "parameter '\(n)' has no weight bound (was the model loaded?)"
        case .shapeMismatch(let n, let e, let f): return "input '\(n)' has shape \(f), expected \(e)"
        case .invalidInput(let m): return m
        }
    }
}

/// Property wrapper that names a child module's checkpoint key:
/// `@ModuleInfo(key: "to_out.0") var toOut: Linear`, assigned in `init` with `_toOut.wrappedValue = Linear(…)`.
/// Reading it before it is assigned is a programming error (the module tree is built by our own code).
@propertyWrapper public struct ModuleInfo<M> {
    public let key: String?
    private var value: M?
    public var wrappedValue: M {
        get {
            guard let value else { preconditionFailure("module property '\(key ?? "?")' read before it was assigned") }
            return value
        }
        set { value = newValue }
    }
    public init(wrappedValue: M, key: String? = nil) {
        self.key = key
        self.value = wrappedValue
    }
    public init(key: String) {
        self.key = key
        self.value = nil
    }
}

/// Property wrapper that names a parameter's checkpoint key when it differs from the property name.
@propertyWrapper public struct ParameterInfo<P> {
    public let key: String?
    private var value: P?
    public var wrappedValue: P {
        get {
            guard let value else { preconditionFailure("parameter property '\(key ?? "?")' read before it was assigned") }
            return value
        }
        set { value = newValue }
    }
    public init(wrappedValue: P, key: String? = nil) {
        self.key = key
        self.value = wrappedValue
    }
    public init(key: String) {
        self.key = key
        self.value = nil
    }
}

private protocol KeyedChild {
    var childKey: String? { get }
    var childValue: Any { get }
}
extension ModuleInfo: KeyedChild {
    var childKey: String? { key }
    var childValue: Any { value as Any }
}
extension ParameterInfo: KeyedChild {
    var childKey: String? { key }
    var childValue: Any { value as Any }
}

/// Base class of every layer and network.
open class Module {
    public init() {}

    /// Every parameter of this module and its children, keyed by dotted checkpoint name, in declaration order.
    public func namedParameters(prefix: String = "") -> [(key: String, parameter: Parameter)] {
        var out: [(key: String, parameter: Parameter)] = []
        collect(self, prefix: prefix, into: &out)
        return out
    }

    private func collect(_ value: Any, prefix: String, into out: inout [(key: String, parameter: Parameter)]) {
        let mirror = Mirror(reflecting: value)
        var current: Mirror? = mirror
        var mirrors: [Mirror] = []
        while let m = current { mirrors.insert(m, at: 0); current = m.superclassMirror }
        for m in mirrors {
            for child in m.children {
                guard var label = child.label else { continue }
                var v = child.value
                if let keyed = v as? KeyedChild {
                    if label.hasPrefix("_") { label.removeFirst() }
                    if let k = keyed.childKey { label = k }
                    v = keyed.childValue
                }
                Module.visit(v, key: prefix.isEmpty ? label : prefix + "." + label, into: &out)
            }
        }
    }

    private static func visit(_ v: Any, key: String, into out: inout [(key: String, parameter: Parameter)]) {
        if let p = v as? Parameter {
            out.append((key, p))
        } else if let m = v as? Module {
            m.collect(m, prefix: key, into: &out)
        } else if let arr = v as? [Any] {
            for (i, e) in arr.enumerated() { visit(e, key: key + ".\(i)", into: &out) }
        } else {
            let mirror = Mirror(reflecting: v)
            if mirror.displayStyle == .optional, let some = mirror.children.first {
                visit(some.value, key: key, into: &out)
            }
        }
    }
}
