#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import VaultSystem

/// Small, allocation-light readers for /proc and /sys. These files hold host configuration and
/// mapping metadata, never request content, so ordinary Strings are fine here.
enum ProcFS {
    /// The whole file as bytes, or the errno that stopped it. /proc files report size 0, so this
    /// reads until EOF.
    static func readBytes(_ path: String, limit: Int = 64 << 20) -> Result<[UInt8], Errno> {
        do throws(Errno) { return .success(try FileSystem.live.readFile(path, limit: limit)) } catch { return .failure(error) }
    }

    /// The file as text with surrounding whitespace trimmed, or nil when it cannot be read.
    static func readText(_ path: String) -> String? {
        guard case .success(let bytes) = readBytes(path) else { return nil }
        return String(decoding: bytes, as: UTF8.self).trimmed
    }

    static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    /// `realpath(3)`, or nil.
    static func resolve(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// Directory entries except `.` and `..`.
    static func list(_ path: String) -> [String] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }
}

extension String {
    var trimmed: String {
        var scalars = Substring(self)
        while let first = scalars.first, first.isWhitespace { scalars.removeFirst() }
        while let last = scalars.last, last.isWhitespace { scalars.removeLast() }
        return String(scalars)
    }
}
