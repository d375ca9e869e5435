import ArgumentParser
import Foundation
import SSHAuditCentral
import SSHAuditCore
import SSHAuditStore

extension CentralError: RuntimeFailure {}

/// Copies the local database to a central PostgreSQL under this host's identity, exactly once, and
/// keeps following it. The local SQLite file stays the durable buffer: the recorder never waits on
/// the network, and an outage only delays shipping.
struct Ship: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy every ledger entry and row version to a central PostgreSQL database, exactly once.",
        discussion: """
            The password comes from --password-file, PGPASSWORD or PGPASSFILE (~/.pgpass), never from the \
            command line. TLS: sslmode=verify-full (and sslrootcert=…) in the URL. Without --once, ship \
            keeps following the database and retries when PostgreSQL is unreachable.
            """)

    @Option(help: "Database file.")
    var db: String = AuditStore.defaultPath

    @Option(help: ArgumentHelp("The central database: postgresql://USER@HOST:PORT/DB[?sslmode=…], without a password.", valueName: "URL"))
    var to: String

    @Option(help: "This host's identity centrally (default: its host name and /etc/machine-id).")
    var host: String?

    @Option(name: .customLong("password-file"), help: "A file holding the central database's password (one line).")
    var passwordFile: String?

    @Flag(help: "Ship what is there, then exit.")
    var once = false

    @Option(help: "Seconds between looks at the local database once caught up.")
    var interval: Double = 1

    @Option(help: "Ledger entries per central transaction.")
    var batch: Int = 2_000

    func validate() throws {
        if PGConnection.urlHasPassword(to) {
            throw ValidationError("no password in --to: use --password-file FILE, PGPASSWORD or PGPASSFILE")
        }
        guard interval > 0, interval <= 3600 else { throw ValidationError("--interval must be between 0 and 3600 seconds") }
        guard (1...100_000).contains(batch) else { throw ValidationError("--batch must be between 1 and 100000") }
    }

    func run() throws {
        let password = try passwordFile.map(ShipPassword.read)
        let identity = HostIdentity.local(override: host)
        let reader = try AuditReader(path: db)
        var shipper: Shipper?
        var failing: String?  // the outage being reported, once
        var shipped = 0
        while true {
            do {
                if shipper == nil {
                    shipper = try Shipper(reader: reader, central: try PGConnection(url: to, password: password), host: identity, batch: batch)
                }
                let n = try shipper!.shipNext()
                shipped += n
                if failing != nil {
                    Stderr.line("sshaudit: shipping again to the central database")
                    failing = nil
                }
                if n > 0 { continue }
                if once {
                    print("shipped \(shipped) ledger entries of \(VisibleText.render(identity.key))")
                    return
                }
                Thread.sleep(forTimeInterval: interval)
            } catch let error as CentralError {
                // A refusal of the data itself (a rewritten local ledger) is final; an outage is not.
                if shipper?.isConnected == true || once { throw error }
                if failing != error.description {
                    Stderr.line("sshaudit: " + VisibleText.render(error.description) + "; retrying")
                    failing = error.description
                }
                shipper = nil
                Thread.sleep(forTimeInterval: min(max(interval, 1), 5))
            }
        }
    }
}

/// The password in a file: its first line, from a file only root may read.
enum ShipPassword {
    static func read(_ path: String) throws -> String {
        if let why = PathSafety.problem(path, private: true) { throw CLIError("refusing to use \(path): \(why)") }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8),
              let line = text.split(separator: "\n", omittingEmptySubsequences: false).first, !line.isEmpty else {
            throw CLIError("\(path): no password in it")
        }
        return String(line)
    }
}
