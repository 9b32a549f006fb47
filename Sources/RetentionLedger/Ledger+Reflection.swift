// What `print`, `dump` and a debugger show of the ledger's reference types: the origin and sizes,
// the key's public name. Without these, `dump(ledger)` walked the whole writer state (hundreds of
// kilobytes of tree levels, buffers and heap addresses) and `dump(key)` the key material's
// address.

extension Ledger: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String { "Ledger(\(origin), \(size) records, \(durableSize) durable)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror {
        Mirror(self, children: ["origin": origin, "size": size, "durableSize": durableSize], displayStyle: .class)
    }
}

extension SigningKey: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String { "SigningKey(\(verifierKey), epoch \(epoch))" }
    public var debugDescription: String { description }
    public var customMirror: Mirror {
        Mirror(self, children: ["verifierKey": verifierKey, "epoch": epoch], displayStyle: .class)
    }
}
