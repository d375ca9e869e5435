import ArgumentParser
import Foundation
import SSHAuditCore
import SSHAuditStore
import SSHAuditRecorder

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
        Stderr.line("sshaudit: " + VisibleText.render(message), level: .error)
        Foundation.exit(code)
    }
}

/// Every file of the CLI prints its messages through the recorder's log point.
typealias Stderr = SSHAuditRecorder.Stderr

/// Everything printed on stdout: a failed write (a full disk, a closed pipe) is one line and exit 1.
enum Stdout {
    static func write(_ data: Data) {
        if let errno = writeAll(1, [UInt8](data)) {
            SSHAudit.fail("cannot write the output: \(String(cString: strerror(errno)))", code: 1)
        }
    }
}

/// Errors from lower modules that already carry a user-facing sentence.
protocol RuntimeFailure: Error, CustomStringConvertible {}
extension StoreError: RuntimeFailure {}
extension QueryError: RuntimeFailure {}
extension EventLogError: RuntimeFailure {}
extension RecorderFailure: RuntimeFailure {}
