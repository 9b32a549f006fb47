#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

exit(CLI.main(CommandLine.arguments))
