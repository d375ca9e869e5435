import ArgumentParser
import Foundation
import SSHAuditCentral
import SSHAuditCore
import SSHAuditStore

extension LedgerProblem: RuntimeFailure {}

/// Tamper evidence: recomputes the ledger's hash chain and every row against its latest entry.
struct Verify: ParsableCommand, UsesDatabase {
    static let configuration = CommandConfiguration(
        abstract: "Check the database against its hash-chained ledger (rows or ledger changed outside sshaudit).",
        discussion: """
            Exits 0 and prints the rows and ledger entries checked and the chain head; keep the head \
            elsewhere and give it later with --expect-head to prove the ledger was only appended to. \
            Exits 1 naming the first problem: a row changed, inserted or deleted outside sshaudit (also \
            when the ledger was extended to match), a version after a row's final one, a row the recorder \
            found changed, an entry of the --grep index missing or altered, or ledger entries altered or removed.
            """)

    @OptionGroup var database: DatabaseOption

    @Option(name: .customLong("expect-head"), help: ArgumentHelp(
        "A chain head printed by an earlier verify: fail unless it is still in the chain.", valueName: "SHA256"))
    var expectHead: String?

    @Option(help: ArgumentHelp("Check the chains shipped to this PostgreSQL database (no password in it; see ship); "
                               + "with --db also compare the local ledger with the copy shipped.", valueName: "URL"))
    var central: String?

    @Option(help: "With --central: the host to check (default: every host; with --db, this machine's identity as ship uses it).")
    var host: String?

    @Option(name: .customLong("password-file"), help: "With --central: a file holding the central database's password.")
    var passwordFile: String?

    @Flag(name: .customLong("central-only"), help: "With --central: check only the central copy, not a local database.")
    var centralOnly = false

    func validate() throws {
        if let central, PGConnection.urlHasPassword(central) {
            throw ValidationError("no password in --central: use --password-file FILE, PGPASSWORD or PGPASSFILE")
        }
        if let expectHead, expectHead.count != 64 || !expectHead.allSatisfy(\.isHexDigit) {
            throw ValidationError("--expect-head takes the 64 hex digits of a chain head printed by verify")
        }
    }

    func run() throws {
        if let central { return try verifyCentral(central) }
        try verifyLocal()
    }

    private func verifyLocal() throws {
        let report = try AuditStore.verify(path: db, expectHead: expectHead)
        let tables = report.rows.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        print("""
            ok: \(report.totalRows) rows (\(tables)) and \(report.entries) ledger entries checked, \(report.prunes) prune(s); \
            \(report.indexedCommands) command line(s) checked against the --grep index
            chain head: \(report.head) (entry \(report.headSeq))
            """)
    }

    /// Every shipped chain; then, unless --central-only, the local database and its agreement with
    /// what was shipped of it.
    private func verifyCentral(_ url: String) throws {
        let connection = try PGConnection(url: url, password: try passwordFile.map(ShipPassword.read))
        let identity = HostIdentity.local(override: host)
        let reports = try CentralVerify.chains(connection, only: centralOnly ? host : nil)
        for r in reports {
            print("central ok: \(VisibleText.render(r.host)): \(r.entries) ledger entries, \(r.rows) row versions; head \(r.head ?? "-")")
        }
        guard !centralOnly else { return }
        try verifyLocal()
        let reader = try AuditReader(path: db)
        let compared = try CentralVerify.compare(connection, host: identity.key, with: reader)
        print("local ok against central: \(compared) ledger entries of \(VisibleText.render(identity.key)) equal to the copy shipped")
    }
}
