# sshaudit — build, record, test. Everything a fresh Debian/Ubuntu machine lacks is installed here.
SWIFT   ?= swift
DB      ?= /var/lib/sshaudit/sshaudit.db
# Build: libbpf and friends, pkg-config to find them. Tests: a real sshd, ssh and sshpass clients;
# chromium renders the HTML report for the screenshot test; libpq to ship to PostgreSQL, whose
# server the fleet tests start on their own; mptcpize runs an sshd that accepts MPTCP; gcc and the C
# headers build the tests' small C programs (and the benchmarks').
APT_PACKAGES := pkg-config libbpf-dev libelf-dev zlib1g-dev libsqlite3-dev libpq-dev \
                openssh-server openssh-client sshpass procps chromium rsync sqlite3 postgresql openssl \
                mptcpize gcc libc6-dev

PREFIX  ?= /usr/local

.PHONY: deps build run test install clean

deps:
	@missing=$$(for p in $(APT_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

build: deps
	$(SWIFT) build -c release --product sshaudit

run: build
	.build/release/sshaudit record --db $(DB)

# Unit and integration tests (integration needs root: real BPF, a real sshd on 127.0.0.1).
# Tests run in parallel (each integration test has its own sshd port and database). The abuse tests
# (BoundsTests' fork storm that overflows ring buffers and 30 s connection flood; the io_uring test
# that fills the kernel's ring table, the 32-bit call test that fills its process table; the 100,000
# connects of the network flood test; the load test's
# 200 sessions, which keep both CPUs busy) run alone after them: every recorder follows every sshd on the
# machine, so run alongside they would flood the other tests' recorders too, and a recorder started
# beside the load test waits about 30 s for the CPU before it records. SessionHooksTests runs alone too: another
# test's session would keep its recorder's session hooks attached; it runs first, before
# tracepoint-hold starts, so that attaching and detaching the hooks is tested as on a server. The last
# line is the count from the xUnit reports: "N passed, N failed".
# tracepoint-hold keeps the syscall tracepoints registered for the other tests, so that each test's
# recorder stop does not wait for the kernel to unregister them one by one (2 s a test; see its source).
ALONE_TESTS := SessionHooksTests
SERIAL_TESTS := LoadTests.testTwoHundredConcurrentSessions|BoundsTests.testForkStorm|BoundsTests.testConnectionFlood|IOUringTests.testMoreRingsThanTheKernelFollows|CompatCallsTests.testMoreProcessesThanTheKernelCounts|NetworkActivityTests.testSendsToAddresses|NetworkActivityTests.testConnectFloodIsBounded
test: deps
	$(SWIFT) build --build-tests
	cc -O2 -o .build/tracepoint-hold Tests/Integration/tracepoint-hold.c
	@rm -f .build/xunit*.xml; status=0; \
	$(SWIFT) test --skip-build --parallel --num-workers 1 --disable-swift-testing --filter '$(ALONE_TESTS)' \
		--xunit-output .build/xunit-alone.xml || status=$$?; \
	.build/tracepoint-hold & hold=$$!; \
	$(SWIFT) test --skip-build --parallel --num-workers 3 --disable-swift-testing --skip '$(ALONE_TESTS)|$(SERIAL_TESTS)' \
		--xunit-output .build/xunit-parallel.xml || status=$$?; \
	$(SWIFT) test --skip-build --parallel --num-workers 1 --disable-swift-testing --filter '$(SERIAL_TESTS)' \
		--xunit-output .build/xunit-serial.xml || status=$$?; \
	kill $$hold; \
	total=$$(cat .build/xunit*.xml 2>/dev/null | grep -o '<testcase ' | wc -l); \
	failed=$$(cat .build/xunit*.xml 2>/dev/null | grep -o '<failure' | wc -l); \
	echo "tests: $$((total - failed)) passed, $$failed failed"; \
	[ "$$total" -gt 0 ] && exit $$status || exit 1

# The binary, a systemd unit (Type=notify, restart on failure, hardened) and the docs.
install: build
	install -D -m 0755 .build/release/sshaudit $(DESTDIR)$(PREFIX)/sbin/sshaudit
	install -D -m 0644 dist/sshaudit.service $(DESTDIR)/etc/systemd/system/sshaudit.service
	install -D -m 0644 dist/sshaudit-ship.service $(DESTDIR)/etc/systemd/system/sshaudit-ship.service
	install -D -m 0644 README.md $(DESTDIR)$(PREFIX)/share/doc/sshaudit/README.md
	install -d -m 0700 $(DESTDIR)/var/lib/sshaudit
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; \
		echo "installed; start with: systemctl enable --now sshaudit"; fi

clean:
	rm -rf .build
