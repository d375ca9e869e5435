import ArgumentParser
import Foundation
import SSHAuditCore
import SSHAuditStore

/// A failure the user can act on: printed as one line, exit status 1.
struct CLIError: RuntimeFailure {
    let description: String
    init(_ description: String) { self.description = description }
}

@main
struct SSHAudit: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sshaudit",
        abstract: "Audit OpenSSH's sshd from the outside with eBPF: sessions, commands, authentication.",
        subcommands: [Record.self, Query.self, Show.self, Report.self, Status.self, Verify.self, Prune.self, Replay.self, Events.self, Export.self, Ship.self, Play.self, Completions.self]
    )

    /// Usage errors exit 2 and runtime errors exit 1, each with one line on stderr, never a trace.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let error as RuntimeFailure {
            fail(error.description, code: 1)
        } catch {
            if StoreError.isDatabaseError(error) { fail("database error: \(StoreError.reason(error))", code: 1) }
            let code = exitCode(for: error)
            let message = fullMessage(for: error)
            if code == .success {
                print(message)
                Foundation.exit(0)
            }
            // ArgumentParser's usage errors (64) become 2, like other Unix tools; its first line says it.
            let firstLine = message.split(separator: "\n").first.map(String.init) ?? message
            fail(firstLine, code: code == .validationFailure ? 2 : code.rawValue)
        }
    }

    static func fail(_ message: String, code: Int32) -> Never {
        // Messages can quote recorded text (a table name from a tampered ledger, a path): one visible line.
        Stderr.line("sshaudit: " + VisibleText.render(message))
        Foundation.exit(code)
    }
}

/// Output with plain write(2): FileHandle.write traps when the write fails (stdout or stderr may be a
/// file on the disk that just filled up), and a message must never crash the recorder.
enum Stderr {
    /// Callers render recorded text themselves; error messages go through `SSHAudit.fail`.
    static func line(_ text: String) {
        _ = writeAll(2, Array((text + "\n").utf8))
    }
}

/// Everything printed on stdout: a failed write (a full disk, a closed pipe) is one line and exit 1.
enum Stdout {
    static func write(_ data: Data) {
        if let errno = writeAll(1, [UInt8](data)) {
            SSHAudit.fail("cannot write the output: \(String(cString: strerror(errno)))", code: 1)
        }
    }
}

/// Writes all of `bytes` to `fd`; the errno of a failed write, or nil.
private func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Int32? {
    var done = 0
    while done < bytes.count {
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + done, bytes.count - done) }
        if n < 0 && errno == EINTR { continue }
        if n < 0 { return errno }
        if n == 0 { return EIO }
        done += n
    }
    return nil
}

/// Errors from lower modules that already carry a user-facing sentence.
protocol RuntimeFailure: Error, CustomStringConvertible {}
extension StoreError: RuntimeFailure {}
extension QueryError: RuntimeFailure {}
extension EventLogError: RuntimeFailure {}
