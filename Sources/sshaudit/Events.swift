import ArgumentParser
import Foundation
import SSHAuditCore
import SSHAuditRecorder

/// Prints a recorded event stream, one decoded event per line: for looking at what sshd did.
struct Events: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events", abstract: "Print the events of a file written by `record --events`.")

    @Argument(help: "Event log file.")
    var file: String

    func run() throws {
        let log = try EventLogStream.open(file)
        var out = ""
        var i = 0
        do {
            try log.forEach { record in
                do {
                    let e = try EventDecoder.decode(record)
                    let wall = Timestamp.iso(ns: Int64(e.timestampNs) + log.header.bootToWallNs)
                    out += "\(wall) \(e.process.tgid) ppid=\(e.ppid) uid=\(e.uid) [\(v(e.comm))] \(describe(e.kind))"
                    if case let .exec(info) = e.kind { out += " cwd=\(v(info.cwd ?? "?")) tty=\(v(info.tty ?? "-"))" }
                } catch {
                    out += "record \(i): \(error)"
                }
                out += "\n"
                i += 1
                if out.utf8.count > 1 << 16 {
                    Stdout.write(Data(out.utf8))
                    out = ""
                }
            } gap: { missing in
                out += "gap: \(missing) record(s) here were not logged (the recorder could not write the file)\n"
            }
        } catch let error as EventLogError {
            Stdout.write(Data(out.utf8))
            throw CLIError("\(file): \(error)")
        }
        Stdout.write(Data(out.utf8))
    }

    /// Recorded text, shown through VisibleText.
    private func v(_ text: String) -> String { VisibleText.render(text) }

    /// Recorded text in double quotes (a quote inside as \").
    private func quoted(_ text: String) -> String { "\"" + v(text).replacingOccurrences(of: "\"", with: "\\\"") + "\"" }

    private func describe(_ kind: EventKind) -> String {
        switch kind {
        case let .fork(child): return "fork → \(child.tgid)"
        case let .exec(info): return "exec \(v(info.filename)) [\(info.argv.map(quoted).joined(separator: ", "))]\(info.argvTruncated ? " (truncated)" : "")\(info.newRoot ? (info.connection ? " (new root, connection on stdin)" : " (new root)") : "")"
        case let .exit(status): return "exit status=0x\(String(status, radix: 16))"
        case let .accept(local, remote, socket): return "accept \(remote.address):\(remote.port) → \(local.address):\(local.port) socket=\(String(socket, radix: 16))"
        case let .connectionClosed(socket, bytesIn, bytesOut): return "connection closed socket=\(String(socket, radix: 16)) in=\(bytesIn) out=\(bytesOut)"
        case let .fileOpened(fd, flags, path): return "open fd=\(fd) flags=0o\(String(flags, radix: 8)) \(v(path))"
        case let .fileClosed(fd, position, size): return "close fd=\(fd) position=\(position) size=\(size)"
        case let .socket(call): return "\(call.operation) \(call.endpoint.map { "\($0.address):\($0.port)" } ?? v(call.unixPath ?? "?"))"
        case let .cred(r, e, s): return "cred ruid=\(r) euid=\(e) suid=\(s)"
        case .chroot: return "chroot"
        case .setsid: return "setsid"
        case let .log(source, text): return "log(\(source)) \(quoted(text))"
        case let .fileChange(f): return "file \(f.op.rawValue) \(quoted(f.path))\(f.newPath.map { " → " + quoted($0) } ?? "")\(f.seenKey == nil ? "" : " (repeats counted)")"
        case let .network(call):
            let target = call.endpoint.map { "\($0.address):\($0.port)" } ?? v(call.path ?? "(unnamed)")
            return "net \(call.operation) \(target) family=\(call.family) type=\(call.socketType) proto=\(call.ipProtocol) "
                + "result=\(call.result)\(call.fromCaller ? " (caller's address)" : "")"
        case let .tty(stream, bytes, cut, capped):
            return "tty \(stream) \(bytes.count) bytes\(cut ? " (cut)" : "")\(capped ? " (cap reached)" : "") \(quoted(RecordedText.string(bytes)))"
        case let .ttyWindow(rows, cols): return "tty window \(cols)x\(rows)"
        case let .ioUring(use): return "io_uring ring=\(String(format: "%016llx", use.ring)) \(use.detail)"
        case let .compatCalls(calls): return "compat_calls \(calls.detail)"
        case let .fileRepeat(key, count): return "file repeats \(count) key=\(key.prefix(24).map { String(format: "%02x", $0) }.joined())…"
        }
    }
}
