import ArgumentParser
import Foundation
import SSHAuditCentral
import SSHAuditCore
import SSHAuditStore

/// `--central URL [--host H]`: read the fleet's rows from the central PostgreSQL that `ship` fills,
/// instead of the local database. The same filters, the same rows, plus the host of each.
struct CentralOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Read every shipped host's rows from this PostgreSQL database (no password in it; see ship) "
                               + "instead of the local database.", valueName: "URL"))
    var central: String?

    @Option(help: ArgumentHelp("With --central: only this host (its key as ship names it, or its host name).", valueName: "HOST"))
    var host: String?

    @Option(name: .customLong("password-file"), help: "With --central: a file holding the central database's password.")
    var passwordFile: String?

    func validate() throws {
        if let central, PGConnection.urlHasPassword(central) {
            throw ValidationError("no password in --central: use --password-file FILE, PGPASSWORD or PGPASSFILE")
        }
        if central == nil, host != nil || passwordFile != nil {
            throw ValidationError("--host and --password-file go with --central")
        }
    }

    /// The fleet reader, when --central was given.
    func reader() throws -> CentralReader? {
        guard let central else { return nil }
        let connection = try PGConnection(url: central, password: try passwordFile.map(ShipPassword.read),
                                          applicationName: "sshaudit-query")
        return try CentralReader(connection, host: host)
    }
}

/// Prints fleet rows like local ones, with the host first (JSON: a "host" key).
func printHostedRows<Row: Encodable & Sendable>(_ rows: [Hosted<Row>], format: OutputFormat, header: [String],
                                                cells: (Row) -> [String]) throws {
    try printRows(rows, format: format, header: ["HOST"] + header) { [$0.host] + cells($0.row) }
}
