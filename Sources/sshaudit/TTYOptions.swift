import ArgumentParser
import Foundation
import SSHAuditCore

extension TTYMode: ExpressibleByArgument {}

/// A size in bytes: a number with an optional K, M or G suffix (powers of 1024; "KiB" etc. too).
struct ByteSize: ExpressibleByArgument, Equatable {
    let bytes: Int64

    init(bytes: Int64) { self.bytes = bytes }

    init?(argument: String) {
        var text = Substring(argument.trimmingCharacters(in: .whitespaces))
        var unit: Int64 = 1
        for (suffixes, scale) in [(["GiB", "G"], Int64(1) << 30), (["MiB", "M"], Int64(1) << 20), (["KiB", "K"], Int64(1) << 10)] {
            if let s = suffixes.first(where: { text.uppercased().hasSuffix($0.uppercased()) }) {
                text = text.dropLast(s.count)
                unit = scale
                break
            }
        }
        guard let n = Int64(text), n > 0, n <= (Int64(1) << 40) / unit else { return nil }
        bytes = n * unit
    }

    static let defaultTTYMax = ByteSize(bytes: 16 << 20)
}

/// record's terminal recording options; the unit's environment (SSHAUDIT_TTY, SSHAUDIT_TTY_MAX) sets
/// them when the command line does not.
struct TTYOptions: ParsableArguments {
    @Option(name: .customLong("tty"), help: ArgumentHelp(
        "Record what sessions' terminals show: off (default), output (what was displayed, with timing and "
        + "window size), all (also what was typed, including anything typed at a prompt that does not "
        + "echo, such as a sudo password). Environment: SSHAUDIT_TTY.", valueName: "off|output|all"))
    var ttyOption: TTYMode?

    @Option(name: .customLong("tty-max"), help: ArgumentHelp(
        "Bytes recorded per session at most (K, M, G suffixes; default 16M); past it the recording is "
        + "marked tty_truncated. Environment: SSHAUDIT_TTY_MAX.", valueName: "SIZE"))
    var ttyMaxOption: ByteSize?

    func resolved(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> (mode: TTYMode, max: Int64) {
        var mode = ttyOption ?? .off
        if ttyOption == nil, let text = environment["SSHAUDIT_TTY"], !text.isEmpty {
            guard let m = TTYMode(rawValue: text) else {
                throw ValidationError("SSHAUDIT_TTY=\(text): expected off, output or all")
            }
            mode = m
        }
        var max = (ttyMaxOption ?? .defaultTTYMax).bytes
        if ttyMaxOption == nil, let text = environment["SSHAUDIT_TTY_MAX"], !text.isEmpty {
            guard let size = ByteSize(argument: text) else { throw ValidationError("SSHAUDIT_TTY_MAX=\(text): expected a size such as 16M") }
            max = size.bytes
        }
        return (mode, max)
    }
}
