import ArgumentParser
import Foundation
import SSHAuditStore

extension LedgerProblem: RuntimeFailure {}

/// Tamper evidence: recomputes the ledger's hash chain and every row against its latest entry.
struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the database against its hash-chained ledger (rows or ledger changed outside sshaudit).",
        discussion: """
            Exits 0 and prints the rows and ledger entries checked and the chain head; keep the head \
            elsewhere and give it later with --expect-head to prove the ledger was only appended to. \
            Exits 1 naming the first problem: a row changed, inserted or deleted outside sshaudit (also \
            when the ledger was extended to match), a version after a row's final one, a row the recorder \
            found changed, an entry of the --grep index missing or altered, or ledger entries altered or removed.
            """)

    @Option(help: "Database file.")
    var db: String = AuditStore.defaultPath

    @Option(name: .customLong("expect-head"), help: ArgumentHelp(
        "A chain head printed by an earlier verify: fail unless it is still in the chain.", valueName: "SHA256"))
    var expectHead: String?

    func validate() throws {
        if let expectHead, expectHead.count != 64 || !expectHead.allSatisfy(\.isHexDigit) {
            throw ValidationError("--expect-head takes the 64 hex digits of a chain head printed by verify")
        }
    }

    func run() throws {
        let report = try AuditStore.verify(path: db, expectHead: expectHead)
        let tables = report.rows.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        print("""
            ok: \(report.totalRows) rows (\(tables)) and \(report.entries) ledger entries checked, \(report.prunes) prune(s); \
            \(report.indexedCommands) command line(s) checked against the --grep index
            chain head: \(report.head) (entry \(report.headSeq))
            """)
    }
}
