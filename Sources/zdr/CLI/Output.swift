#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import VaultSystem

/// Where a command writes. Human output goes to stdout with colour only when stdout is a terminal
/// and `NO_COLOR` is unset (https://no-color.org) and `TERM` is not `dumb`; errors go to stderr.
struct Console: Sendable {
    let useColour: Bool

    static func detect() -> Console {
        let noColour = getenv("NO_COLOR").map { $0.pointee != 0 } ?? false
        let dumb = getenv("TERM").map { String(cString: $0) == "dumb" } ?? false
        return Console(useColour: isatty(STDOUT_FILENO) == 1 && !noColour && !dumb)
    }

    enum Colour: String {
        case green = "32", yellow = "33", red = "31", bold = "1", dim = "2"
    }

    func paint(_ text: String, _ colour: Colour) -> String {
        useColour ? "\u{1B}[\(colour.rawValue)m\(text)\u{1B}[0m" : text
    }

    func out(_ text: String) { Self.write(text + "\n", to: STDOUT_FILENO) }

    func error(_ text: String) { Self.write(text + "\n", to: STDERR_FILENO) }

    static func write(_ text: String, to fd: Int32) {
        var text = text
        text.withUTF8 { bytes in
            // A failure means stdout closed (a pipe to `head`): nothing useful left to do.
            try? FileSystem.live.writeAll(fd, UnsafeRawBufferPointer(bytes))
        }
    }

    /// A left-aligned table; the last column is not padded.
    func table(_ header: [String], _ rows: [[String]]) {
        let columns = header.count
        var widths = header.map(\.count)
        for row in rows {
            for (index, cell) in row.enumerated() where index < columns {
                widths[index] = max(widths[index], cell.count)
            }
        }
        func render(_ row: [String]) -> String {
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell.padding(toLength: widths[index])
            }.joined(separator: "  ")
        }
        out(paint(render(header), .bold))
        for row in rows { out(render(row)) }
    }
}

/// A JSON value with ordered object keys, so machine output is stable and diffable.
enum JSON: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSON])
    case object([(String, JSON)])
    /// Already-serialized JSON from a trusted producer (the ledger's JSON Lines export).
    case raw(String)

    static func == (lhs: JSON, rhs: JSON) -> Bool { lhs.rendered() == rhs.rendered() }

    static func int(_ value: Int) -> JSON { .int(Int64(value)) }
    static func uint(_ value: UInt64) -> JSON { .int(Int64(clamping: value)) }
    static func optional(_ value: String?) -> JSON { value.map(JSON.string) ?? .null }

    /// Pretty-printed with two-space indentation.
    func rendered(indent: Int = 0) -> String {
        let pad = String(repeating: " ", count: indent)
        let inner = String(repeating: " ", count: indent + 2)
        switch self {
        case .null: return "null"
        case .bool(let value): return value ? "true" : "false"
        case .int(let value): return String(value)
        case .double(let value):
            return value.isFinite ? String(value) : "null"
        case .string(let value): return JSON.quote(value)
        case .raw(let text): return text
        case .array(let items):
            if items.isEmpty { return "[]" }
            return "[\n" + items.map { inner + $0.rendered(indent: indent + 2) }.joined(separator: ",\n") + "\n\(pad)]"
        case .object(let members):
            if members.isEmpty { return "{}" }
            return "{\n" + members.map { key, value in
                inner + JSON.quote(key) + ": " + value.rendered(indent: indent + 2)
            }.joined(separator: ",\n") + "\n\(pad)}"
        }
    }

    /// One line, for JSON Lines output.
    func compact() -> String {
        switch self {
        case .array(let items): return "[" + items.map { $0.compact() }.joined(separator: ",") + "]"
        case .object(let members):
            return "{" + members.map { JSON.quote($0.0) + ":" + $0.1.compact() }.joined(separator: ",") + "}"
        default: return rendered()
        }
    }

    static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let digits = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - digits.count) + digits
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

/// Human-readable sizes: `12.3 MiB`.
func formatBytes(_ bytes: UInt64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var value = Double(bytes)
    var unit = 0
    while value >= 1024, unit < units.count - 1 {
        value /= 1024
        unit += 1
    }
    if unit == 0 { return "\(bytes) B" }
    let tenths = (value * 10).rounded() / 10
    return "\(tenths) \(units[unit])"
}

/// `0x7f12a000`
func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }
