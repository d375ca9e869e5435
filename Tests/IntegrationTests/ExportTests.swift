import Foundation
import GRDB
import XCTest

/// `sshaudit export`: row versions of real logins as JSON lines for shippers, OCSF events checked
/// against the OCSF 1.8.0 schema (Tests/Integration/ocsf: the classes' and objects' attributes and
/// requirements, derived from the schema's release), a durable cursor, and rows changed behind the
/// recorder's back flagged rather than passed on as genuine.
final class ExportTests: RecordedSSHDTestCase {

    /// Names the file the first session creates (a new one each run).
    private let runID = UUID().uuidString.prefix(8)

    /// A publickey login whose command exits 3, a failed password, a password login; recorded.
    private func record(_ name: String, port: Int) throws {
        server = try SSHDServer(name: name, port: port)
        recorder = try Recorder(name: name)
        // Also a file written and a connection opened by the shell itself (builtins: no exec), and an
        // extended attribute and an inode flag (no-dump, which a file's owner may set) set on the file
        // (a step that fails ends the command with its own status, not 3).
        XCTAssertEqual(try server.ssh("sa_alice", ["/bin/echo export-marker; echo x > /tmp/\(name)-\(runID) && "
                                                   + "python3 -c 'import os; os.setxattr(\"/tmp/\(name)-\(runID)\", \"user.sa\", b\"v\")' && "
                                                   + "chattr +d /tmp/\(name)-\(runID) && exec 3<>/dev/tcp/127.0.0.1/\(port) && exit 3"]).status, 3)
        XCTAssertNotEqual(try server.sshWithPasswords("sa_bob", ["not-the-password"]).status, 0)
        XCTAssertEqual(try server.sshWithPasswords("sa_bob", ["Bob-Pw-9z"], command: "/bin/true").status, 0)
        XCTAssertEqual(try recorder.stop(), 0)
    }

    private func export(_ args: [String]) throws -> [[String: Any]] {
        let r = try runProcess(Paths.sshaudit, ["export", "--db", recorder.db, "--host", "test-host"] + args)
        guard r.status == 0 else { throw TestFailure("export failed: \(r.stderr)") }
        return try r.stdout.split(separator: "\n").map { line in
            guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                throw TestFailure("not a JSON object: \(line)")
            }
            return object
        }
    }

    func testOCSFEventsMeetTheSchemaAndSayWhatHappened() throws {
        try record("export-ocsf", port: 22490)
        let schema = try OCSFSchema.load()
        let events = try export(["--format", "ocsf"])
        for event in events { XCTAssertEqual(schema.problems(event), [], "\(event)") }

        let mine = Set(try recorder.query("sessions").filter { $0.int("local_port") == server.port }.compactMap { $0.int("id") })
        func ofMySessions(_ e: [String: Any]) -> Bool {
            let session = (e["session"] as? [String: Any]) ?? ((e["actor"] as? [String: Any])?["session"] as? [String: Any])
            return (session?["uid"] as? String).flatMap(Int.init).map(mine.contains) ?? false
        }
        let auth = events.filter { $0.int("class_uid") == 3002 && ofMySessions($0) }
        XCTAssertEqual(auth.filter { $0.int("status_id") == 2 }.compactMap { ($0["user"] as? [String: Any])?["name"] as? String }, ["sa_bob"])
        XCTAssertEqual(Set(auth.filter { $0.int("status_id") == 1 }.compactMap { ($0["user"] as? [String: Any])?["name"] as? String }),
                       ["sa_alice", "sa_bob"])
        XCTAssertTrue(auth.allSatisfy { ($0["src_endpoint"] as? [String: Any])?["ip"] as? String == "127.0.0.1" })

        let ssh = events.filter { $0.int("class_uid") == 4007 && ($0["dst_endpoint"] as? [String: Any])?["port"] as? Int == server.port }
        XCTAssertEqual(ssh.count, 4, "one event per connection (three logins and the shell's own), in its latest version")
        XCTAssertTrue(ssh.allSatisfy { $0.int("activity_id") == 2 && $0["end_time"] != nil }, "all closed")
        XCTAssertEqual(Set(ssh.compactMap { $0.int("auth_type_id") }), [6, 5, 0], "publickey, password, none (twice)")

        let commands = events.filter { $0.int("class_uid") == 1007 && ofMySessions($0) }
        // The shell's own command line ends with its exit; /bin/echo's holds the marker too.
        let shell = try XCTUnwrap(commands.first { (($0["process"] as? [String: Any])?["cmd_line"] as? String)?.hasSuffix("exit 3") == true })
        XCTAssertEqual(shell.int("exit_code"), 3)
        XCTAssertEqual(shell.int("type_uid"), 100_702, "Process Activity: Terminate")

        // File System Activity and Network Activity of the shell's builtins.
        let written = try XCTUnwrap(events.first { $0.int("class_uid") == 1001 && ofMySessions($0) && $0.int("activity_id") != 6
            && (($0["file"] as? [String: Any])?["path"] as? String) == "/tmp/export-ocsf-\(runID)" })
        XCTAssertEqual(written.int("activity_id"), 1, "Create")
        let attributed = try XCTUnwrap(events.first { $0.int("class_uid") == 1001 && ofMySessions($0)
            && (($0["unmapped"] as? [String: Any])?["op"] as? String) == "setxattr"
            && (($0["file"] as? [String: Any])?["path"] as? String) == "/tmp/export-ocsf-\(runID)" }, "setxattr")
        XCTAssertEqual(attributed.int("activity_id"), 6, "Set Attributes")
        XCTAssertEqual((attributed["file"] as? [String: Any])?["xattributes"] as? [String: String], ["user.sa": ""])
        let flagged = try XCTUnwrap(events.first { $0.int("class_uid") == 1001 && ofMySessions($0)
            && (($0["unmapped"] as? [String: Any])?["op"] as? String) == "setflags" }, "chattr")
        XCTAssertEqual(flagged.int("activity_id"), 6, "Set Attributes")
        let inodeFlags = ((flagged["file"] as? [String: Any])?["xattributes"] as? [String: String])?["inode_flags"]
        XCTAssertTrue(inodeFlags?.contains("(passed flags 0x") == true && inodeFlags?.contains("no-dump") == true, "\(flagged)")
        XCTAssertEqual(((written["actor"] as? [String: Any])?["user"] as? [String: Any])?["uid"] as? String,
                       String(try XCTUnwrap(shell["actor"] as? [String: Any])["user"].flatMap { ($0 as? [String: Any])?["uid"] as? String } ?? ""))
        let connected = try XCTUnwrap(events.first { $0.int("class_uid") == 4001 && ofMySessions($0)
            && (($0["dst_endpoint"] as? [String: Any])?["port"] as? Int) == server.port })
        XCTAssertEqual(connected.int("activity_id"), 1, "Open")
        XCTAssertEqual((connected["dst_endpoint"] as? [String: Any])?["ip"] as? String, "127.0.0.1")
        XCTAssertEqual((connected["connection_info"] as? [String: Any])?["protocol_name"] as? String, "tcp")

        // In ledger order, each carrying its entry: the chain before it is the ledger's, entry by entry.
        let ledger = events.compactMap { ($0["unmapped"] as? [String: Any])?["ledger"] as? [String: Any] }
        XCTAssertEqual(ledger.count, events.count)
        let seqs = ledger.compactMap { $0.int("seq") }
        XCTAssertEqual(seqs, seqs.sorted())
        XCTAssertEqual(Set(seqs).count, seqs.count)
        let chains = try ledgerChains()
        for entry in ledger {
            let seq = try XCTUnwrap(entry.int("seq"))
            XCTAssertEqual(entry.string("chain"), chains[seq])
            XCTAssertEqual(entry.string("previous_chain"), chains[seq - 1] ?? String(repeating: "0", count: 64))
            XCTAssertEqual(entry["altered"] as? Bool, false)
        }
    }

    /// Channels and refusals (replayed from events recorded on real sshd) are exported with their
    /// ledger entries: jsonl carries every row, OCSF a refusal as Network Activity "Refuse" and no
    /// channel (no OCSF class: its commands carry its id).
    func testChannelsAndRefusalsAreCarriedAndARefusalIsANetworkRefuse() throws {
        let dir = FileManager.default.temporaryDirectory.appending(path: "export-chan-\(getpid())").path
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let schema = try OCSFSchema.load()
        for (fixture, table) in [("channels", "channels"), ("refusals", "refusals")] {
            let db = dir + "/\(fixture).db"
            let recorded = Paths.packageRoot.appending(path: "Tests/SSHAuditCoreTests/Fixtures/\(fixture).events").path
            let replay = try runProcess(Paths.sshaudit, ["replay", recorded, "--db", db])
            XCTAssertEqual(replay.status, 0, replay.stderr)
            let local = try DatabaseQueue(path: db).read { db in
                (ids: try Int.fetchAll(db, sql: "SELECT id FROM \(table) ORDER BY id"),
                 seqs: try Int.fetchAll(db, sql: "SELECT max(seq) FROM ledger WHERE tbl = '\(table)' GROUP BY row_id ORDER BY row_id"))
            }
            XCTAssertFalse(local.ids.isEmpty, "the fixture has \(table)")
            func export(_ format: String) throws -> [[String: Any]] {
                let r = try runProcess(Paths.sshaudit, ["export", "--db", db, "--host", "test-host", "--format", format])
                XCTAssertEqual(r.status, 0, r.stderr)
                return r.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            }
            let lines = try export("jsonl").filter { $0.string("table") == table }
            XCTAssertEqual(lines.compactMap { $0.int("row_id") }.sorted(), local.ids, "every \(table) row")
            XCTAssertEqual(lines.compactMap { $0.int("seq") }.sorted(), local.seqs.sorted(), "with its latest ledger entry")
            XCTAssertTrue(lines.allSatisfy { ($0["row"] as? [String: Any])?.int("id") == $0.int("row_id") && $0["altered"] as? Bool == false })

            let events = try export("ocsf")
            for event in events { XCTAssertEqual(schema.problems(event), [], "\(event)") }
            let mine = events.filter { ($0["metadata"] as? [String: Any])?["log_name"] as? String == table }
            if table == "channels" {
                XCTAssertEqual(mine.count, 0, "a channel has no OCSF class")
            } else {
                let rows = try DatabaseQueue(path: db).read { try Row.fetchAll($0, sql: "SELECT * FROM refusals ORDER BY id") }
                XCTAssertEqual(mine.count, rows.count)
                for (event, row) in zip(mine, rows) {
                    XCTAssertEqual(event.int("class_uid"), 4001)
                    XCTAssertEqual(event.int("activity_id"), 5, "Refuse")
                    XCTAssertEqual((event["src_endpoint"] as? [String: Any])?["ip"] as? String, row["remote_addr"] as String)
                    XCTAssertEqual((event["src_endpoint"] as? [String: Any])?["port"] as? Int, row["remote_port"] as Int)
                    XCTAssertEqual((event["dst_endpoint"] as? [String: Any])?["port"] as? Int, row["local_port"] as Int)
                    XCTAssertEqual((event["unmapped"] as? [String: Any])?["reason"] as? String, row["reason"] as String)
                }
            }
        }
    }

    func testJSONLinesCarryTheRowsAsQueryPrintsThemAndACursorResumes() throws {
        try record("export-jsonl", port: 22491)
        let cursor = (recorder.db as NSString).deletingLastPathComponent + "/export.cursor"
        let lines = try export(["--cursor", cursor])
        XCTAssertFalse(lines.isEmpty)
        let sessions = try recorder.query("sessions")
        let exported = lines.filter { $0.string("table") == "sessions" }.compactMap { $0["row"] as? [String: Any] }
        XCTAssertEqual(exported.count, sessions.count)
        for (a, b) in zip(exported.sorted { $0.int("id")! < $1.int("id")! }, sessions.sorted { $0.int("id")! < $1.int("id")! }) {
            XCTAssertEqual(a as NSDictionary, b as NSDictionary, "the same JSON as `query sessions`")
        }
        XCTAssertTrue(lines.allSatisfy { $0.string("host") == "test-host" })
        let saved = try String(contentsOfFile: cursor, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertEqual(Int(saved), try lastSeq(), "the cursor is the last entry read")
        XCTAssertEqual(try export(["--cursor", cursor]).count, 0, "nothing again")

        // More rows: only those come.
        recorder = try Recorder(name: "export-jsonl", fresh: false)
        XCTAssertEqual(try server.ssh("sa_alice", ["/bin/echo export-second"]).status, 0)
        XCTAssertEqual(try recorder.stop(), 0)
        let more = try export(["--cursor", cursor])
        XCTAssertTrue(more.allSatisfy { $0.int("seq")! > Int(saved)! })
        XCTAssertTrue(more.contains { (($0["row"] as? [String: Any])?["argv"] as? [String])?.contains("/bin/echo export-second") == true
            || (($0["row"] as? [String: Any])?["argv"] as? [String])?.last == "/bin/echo export-second" })

        // A cursor from another database, or not a cursor: one line, exit 1.
        try "99999999\n".write(toFile: cursor, atomically: true, encoding: .utf8)
        let past = try runProcess(Paths.sshaudit, ["export", "--db", recorder.db, "--cursor", cursor])
        XCTAssertEqual(past.status, 1)
        XCTAssertTrue(past.stderr.contains("past the last one"), past.stderr)
        XCTAssertEqual(past.stderr.split(separator: "\n").count, 1)
        XCTAssertEqual(past.stdout, "")
        try "x\n".write(toFile: cursor, atomically: true, encoding: .utf8)
        let junk = try runProcess(Paths.sshaudit, ["export", "--db", recorder.db, "--cursor", cursor])
        XCTAssertEqual(junk.status, 1)
        XCTAssertTrue(junk.stderr.contains("not an export cursor"), junk.stderr)

        // A cursor others could move (and so make the export repeat or skip rows) is refused.
        let open = (recorder.db as NSString).deletingLastPathComponent + "/open-dir"
        try FileManager.default.createDirectory(atPath: open, withIntermediateDirectories: true)
        chmod(open, 0o777)
        let unsafe = try runProcess(Paths.sshaudit, ["export", "--db", recorder.db, "--cursor", open + "/cursor"])
        XCTAssertEqual(unsafe.status, 1)
        XCTAssertTrue(unsafe.stderr.contains("refusing to use \(open): writable by others"), unsafe.stderr)
    }

    /// Root on the host rewrites a stored command with the sqlite3 shell: the export does not pass the
    /// new argv on as genuine. The row says `altered`, in both formats.
    func testARowChangedBehindTheRecordersBackIsFlagged() throws {
        try record("export-altered", port: 22492)
        let id = try XCTUnwrap(try recorder.query("commands", ["--grep", "export-marker"]).first?.int("id"))
        let edit = try runProcess("/usr/bin/sqlite3", [recorder.db, #"UPDATE commands SET argv = '["bash","-c","/bin/echo innocent"]' WHERE id = \#(id)"#])
        XCTAssertEqual(edit.status, 0, edit.stderr)
        let lines = try export([])
        let line = try XCTUnwrap(lines.first { $0.string("table") == "commands" && $0.int("row_id") == id })
        XCTAssertEqual(line["altered"] as? Bool, true)
        XCTAssertEqual(lines.filter { $0["altered"] as? Bool == true }.count, 1, "only that row")
        let event = try XCTUnwrap(try export(["--format", "ocsf"]).first { ($0["metadata"] as? [String: Any])?["uid"] as? String == "commands/\(id)" })
        XCTAssertEqual(((event["unmapped"] as? [String: Any])?["ledger"] as? [String: Any])?["altered"] as? Bool, true)
    }

    /// --follow writes what the recorder stores while it runs.
    func testFollowWritesNewRowsAsTheyAreStored() throws {
        server = try SSHDServer(name: "export-follow", port: 22493)
        recorder = try Recorder(name: "export-follow")
        let follow = Process()
        follow.executableURL = URL(fileURLWithPath: Paths.sshaudit)
        follow.arguments = ["export", "--db", recorder.db, "--follow", "--interval", "0.2"]
        let out = Pipe()
        follow.standardOutput = out
        let seen = Locked(Data())
        out.fileHandleForReading.readabilityHandler = { let more = $0.availableData; seen.mutate { $0.append(more) } }
        try follow.run()
        defer { follow.terminate(); follow.waitUntilExit(); out.fileHandleForReading.readabilityHandler = nil }
        XCTAssertEqual(try server.ssh("sa_alice", ["/bin/echo export-follow-marker"]).status, 0)
        let deadline = Date().addingTimeInterval(20)
        while !seen.text.contains("export-follow-marker"), Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
        XCTAssertTrue(seen.text.contains("export-follow-marker"), seen.text)
        XCTAssertTrue(follow.isRunning)
    }

    private func ledgerChains() throws -> [Int: String] {
        let r = try runProcess("/usr/bin/sqlite3", ["-separator", " ", recorder.db, "SELECT seq, lower(hex(chain)) FROM ledger"])
        return Dictionary(uniqueKeysWithValues: r.stdout.split(separator: "\n").compactMap { line -> (Int, String)? in
            let parts = line.split(separator: " ")
            return parts.count == 2 ? Int(parts[0]).map { ($0, String(parts[1])) } : nil
        })
    }

    private func lastSeq() throws -> Int {
        Int(try runProcess("/usr/bin/sqlite3", [recorder.db, "SELECT MAX(seq) FROM ledger"]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
    }
}


/// What OCSF 1.8.0 asks of an event (Tests/Integration/ocsf/ocsf-1.8.0.json).
struct OCSFSchema {
    struct Rules { var required: [String]; var atLeastOne: [String]; var attributes: Set<String> }
    var classes: [Int: (category: Int, activities: Set<Int>, rules: Rules, profiles: [String: Set<String>])] = [:]
    var objects: [String: Rules] = [:]

    /// Which object type each attribute holding an object is (the attribute dictionary's types).
    static let objectTypes: [String: String] = [
        "metadata": "metadata", "product": "product", "user": "user", "actor": "actor", "device": "device",
        "process": "process", "parent_process": "process", "file": "file", "src_endpoint": "network_endpoint",
        "dst_endpoint": "network_endpoint", "session": "session", "service": "service", "traffic": "network_traffic",
        "file_result": "file", "connection_info": "network_connection_info",
    ]
    /// Attributes of the dictionary's generic type `object`: name/value pairs of the producer's choice
    /// (file.xattributes: a file's extended attributes), no attribute list to check them against.
    static let genericObjects: Set<String> = ["xattributes"]

    static func load() throws -> OCSFSchema {
        let url = Paths.packageRoot.appending(path: "Tests/Integration/ocsf/ocsf-1.8.0.json")
        guard let json = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any],
              json["version"] as? String == "1.8.0",
              let classes = json["classes"] as? [String: [String: Any]], let objects = json["objects"] as? [String: [String: Any]]
        else { throw TestFailure("unreadable \(url.path)") }
        func rules(_ d: [String: Any]) -> Rules {
            Rules(required: d["required"] as? [String] ?? [], atLeastOne: d["at_least_one"] as? [String] ?? [],
                  attributes: Set(d["attributes"] as? [String] ?? []))
        }
        var schema = OCSFSchema()
        for (uid, d) in classes {
            let profiles = (d["profiles"] as? [String: [String]] ?? [:]).mapValues(Set.init)
            schema.classes[Int(uid)!] = (d["category_uid"] as! Int, Set(d["activity_ids"] as! [Int]), rules(d), profiles)
        }
        for (name, d) in objects { schema.objects[name] = rules(d) }
        return schema
    }

    /// Everything wrong with `event`: a missing required attribute, one the class or object does not
    /// have, an unmet at-least-one constraint, inconsistent ids. Empty when it conforms.
    func problems(_ event: [String: Any]) -> [String] {
        guard let uid = event["class_uid"] as? Int, let cls = classes[uid] else { return ["unknown class_uid \(event["class_uid"] ?? "nil")"] }
        // The profiles the event applies (metadata.profiles) add their attributes to the class's.
        var rules = cls.rules
        for profile in ((event["metadata"] as? [String: Any])?["profiles"] as? [String]) ?? [] {
            guard let added = cls.profiles[profile] else { return ["class \(uid) has no profile \(profile)"] }
            rules.attributes.formUnion(added)
        }
        var out = check(event, rules, at: "event \(uid)")
        if event["category_uid"] as? Int != cls.category { out.append("category_uid is not \(cls.category)") }
        guard let activity = event["activity_id"] as? Int, cls.activities.contains(activity) else { return out + ["bad activity_id"] }
        if event["type_uid"] as? Int != uid * 100 + activity { out.append("type_uid is not class_uid * 100 + activity_id") }
        if !(event["time"] is Int) { out.append("time is not a number of milliseconds") }
        return out
    }

    private func check(_ object: [String: Any], _ rules: Rules, at path: String) -> [String] {
        var out = rules.required.filter { object[$0] == nil }.map { "\(path): missing required \($0)" }
        if !rules.atLeastOne.isEmpty, !rules.atLeastOne.contains(where: { object[$0] != nil }) {
            out.append("\(path): needs one of \(rules.atLeastOne)")
        }
        for (key, value) in object where key != "unmapped" {
            guard rules.attributes.contains(key) else { out.append("\(path): \(key) is not an attribute here"); continue }
            if let nested = value as? [String: Any], !Self.genericObjects.contains(key) {
                guard let type = Self.objectTypes[key], let nestedRules = objects[type] else {
                    out.append("\(path).\(key): no object type known"); continue
                }
                out += check(nested, nestedRules, at: "\(path).\(key)")
            }
        }
        return out
    }
}
