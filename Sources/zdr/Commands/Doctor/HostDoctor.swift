#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The checks themselves. Each reads the host and never changes it (the dumpable probe restores
/// the flag it flips).
struct HostDoctor {
    let memlockBudget: UInt64
    /// Prefix for every /proc and /sys path read (tests point it at a fake tree).
    var root = ""

    func run() -> DoctorReport {
        let (kernel, machine) = Self.uname()
        let secret = memfdSecret()
        let memlock = memlockCheck()
        let memlockSufficient = memlock.status == .pass
        let checks = [
            secret,
            memlock,
            coreDumps(),
            swap(secretmemWorks: secret.status == .pass, memlockSufficient: memlockSufficient),
            transparentHugePages(),
            ptraceScope(),
            dumpable(),
            kernelVersion(kernel),
        ]
        return DoctorReport(kernel: kernel, machine: machine, memlockBudget: memlockBudget, checks: checks)
    }

    static func uname() -> (release: String, machine: String) {
        var names = utsname()
        Glibc.uname(&names)
        let release = withUnsafeBytes(of: names.release) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
        let machine = withUnsafeBytes(of: names.machine) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
        return (release, machine)
    }
}
