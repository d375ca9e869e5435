import Foundation
import XCTest

/// "What did the holder of key X do?" and "which addresses are new?", from real logins.
final class KeySourceForensicsTests: XCTestCase {
    func testKeysSourcesAndFirstSeen() throws {
        let server = try SSHDServer(name: "keys", port: 22395, ipv6: true)
        defer { server.stop() }
        // Keys: alice's own, a second one of alice's, and one that alice and bob share.
        func key(_ name: String) throws -> String {
            let path = server.dir + "/k_" + name
            if !FileManager.default.fileExists(atPath: path) {
                XCTAssertEqual(try runProcess("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", name, "-f", path]).status, 0)
            }
            return path
        }
        let alice1 = server.dir + "/k_alice1"
        if !FileManager.default.fileExists(atPath: alice1) {
            try FileManager.default.copyItem(atPath: server.dir + "/id_alice", toPath: alice1)
            try FileManager.default.copyItem(atPath: server.dir + "/id_alice.pub", toPath: alice1 + ".pub")
            chown(alice1, 0, 0)
            chmod(alice1, 0o600)
        }
        let alice2 = try key("alice2"), shared = try key("shared")
        for (user, keys) in [("sa_alice", [alice1, alice2, shared]), ("sa_bob", [shared])] {
            let lines = try keys.map { try String(contentsOfFile: $0 + ".pub", encoding: .utf8) }.joined()
            try lines.write(toFile: server.dir + "/authorized_keys/" + user, atomically: true, encoding: .utf8)
        }
        func fingerprint(_ key: String) throws -> String {
            String(try runProcess("/usr/bin/ssh-keygen", ["-lf", key + ".pub"]).stdout.split(separator: " ")[1])
        }
        func login(_ user: String, _ key: String, from source: String, to host: String = "127.0.0.1") throws {
            let r = try runProcess("/usr/bin/ssh", ["-i", key, "-b", source, "-p", String(server.port), "-F", "/dev/null",
                                                    "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                                                    "-o", "LogLevel=ERROR", "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
                                                    "\(user)@\(host)", "true"])
            XCTAssertEqual(r.status, 0, "\(user) \(key) from \(source): \(r.stderr)")
        }
        let recorder = try Recorder(name: "keys")
        try login("sa_alice", alice1, from: "127.0.0.1")
        Thread.sleep(forTimeInterval: 1.1)
        let later = ISO8601DateFormatter.milliseconds.string(from: Date())
        try login("sa_alice", alice2, from: "127.0.0.2")
        try login("sa_alice", shared, from: "::1", to: "::1")
        try login("sa_bob", shared, from: "127.0.0.1")
        XCTAssertNotEqual(try server.sshWithPasswords("mallory", ["Guess-1"], source: "127.0.0.2").status, 0)
        XCTAssertEqual(try recorder.stop(), 0)

        let keys = Dictionary(uniqueKeysWithValues: try recorder.query("keys").map { ($0.string("key_fingerprint") ?? "", $0) })
        let k1 = try XCTUnwrap(keys[try fingerprint(alice1)]), k2 = try XCTUnwrap(keys[try fingerprint(alice2)])
        let k3 = try XCTUnwrap(keys[try fingerprint(shared)])
        XCTAssertEqual(k1["users"] as? [String], ["sa_alice"])
        XCTAssertEqual(k1["sources"] as? [String], ["127.0.0.1"])
        XCTAssertEqual(k2["users"] as? [String], ["sa_alice"])
        XCTAssertEqual(k2["sources"] as? [String], ["127.0.0.2"])
        XCTAssertEqual(k2.int("sessions"), 1)
        XCTAssertEqual(k3["users"] as? [String], ["sa_alice", "sa_bob"], "one key, two users")
        XCTAssertEqual(k3["sources"] as? [String], ["127.0.0.1", "::1"])
        XCTAssertEqual(k3.int("sessions"), 2)
        XCTAssertEqual(k3.string("key_type"), "ED25519")

        let newKeys = try recorder.query("keys", ["--first-seen-since", later]).compactMap { $0.string("key_fingerprint") }
        XCTAssertFalse(newKeys.contains(try fingerprint(alice1)), "used before \(later)")
        let (f2, f3) = (try fingerprint(alice2), try fingerprint(shared))
        XCTAssertTrue(newKeys.contains(f2) && newKeys.contains(f3))

        let sources = Dictionary(uniqueKeysWithValues: try recorder.query("sources").map { ($0.string("remote_addr") ?? "", $0) })
        let two = try XCTUnwrap(sources["127.0.0.2"])
        XCTAssertEqual(two.int("accepted"), 1)
        XCTAssertEqual(two.int("invalid_user"), 1)
        XCTAssertEqual(two.int("failed"), 1)
        XCTAssertEqual(two["users_tried"] as? [String], ["mallory", "sa_alice"])
        XCTAssertEqual(two.int("sessions"), 2)
        XCTAssertEqual(try XCTUnwrap(sources["::1"]).int("sessions"), 1)
        let newSources = try recorder.query("sources", ["--first-seen-since", later]).compactMap { $0.string("remote_addr") }
        XCTAssertTrue(newSources.contains("127.0.0.2") && newSources.contains("::1"))
        XCTAssertFalse(newSources.contains("127.0.0.1"))

        // --key on the other queries: everything done with the shared key, and nothing else.
        let viaShared = try recorder.query("sessions", ["--key", try fingerprint(shared)])
        XCTAssertEqual(viaShared.compactMap { $0.string("user") }.sorted(), ["sa_alice", "sa_bob"])
        XCTAssertEqual(Set(try recorder.query("commands", ["--key", try fingerprint(shared)]).compactMap { $0.int("session_id") }),
                       Set(viaShared.compactMap { $0.int("id") }))
        XCTAssertEqual(try recorder.query("auth", ["--key", try fingerprint(shared)]).count, 2)
    }
}
