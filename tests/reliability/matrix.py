#!/usr/bin/env python3
"""The fault matrix: `fazhi dev` (every service in one process) on a Postgres cluster of its own,
driven from outside by grpcio (an independent gRPC implementation), with the cluster crashed and
the server killed at will. Prints one table of figures; exits non-zero when a row fails.

Usage: matrix.py FAZHI_BINARY [--quick]   (scripts/reliability builds the binary and runs this)

--quick is the subset CI runs: one crash and one kill instead of three, smaller counts.
"""

import concurrent.futures
import hashlib
import os
import random
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import run as e2e  # noqa: E402 (the e2e run's venv, generated stubs and helpers)

WORK = os.path.join(e2e.ROOT, "target", "reliability")
QUICK = "--quick" in sys.argv
AUDIT_KEY = "reliability-matrix-audit-key-0123456789abcdef"


def postgres_bin():
    for directory in sorted((os.path.join("/usr/lib/postgresql", v, "bin") for v in os.listdir("/usr/lib/postgresql")),
                            key=lambda path: int(path.split("/")[4]), reverse=True):
        if os.path.exists(os.path.join(directory, "pg_ctl")):
            return directory
    raise SystemExit("no Postgres installation found (initdb, pg_ctl)")


def as_postgres(command):
    return ["runuser", "-u", "postgres", "--", *command] if os.getuid() == 0 else command


class Cluster:
    """A throwaway Postgres cluster that can be crashed: `pg_ctl stop -m immediate` skips the
    checkpoint, so the restart recovers from the WAL as after a power cut."""

    def __init__(self):
        self.bin = postgres_bin()
        self.data = os.path.join(WORK, "pgdata")
        self.port = e2e.free_port()
        subprocess.run(["rm", "-rf", self.data], check=True)
        os.makedirs(self.data)
        if os.getuid() == 0:
            subprocess.run(["chown", "-R", "postgres:postgres", WORK], check=True)
        self.tool("initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8")
        self.start()
        self.psql("CREATE DATABASE fazhi", database="postgres")

    def tool(self, name, *arguments, check=True):
        return subprocess.run(as_postgres([os.path.join(self.bin, name), *arguments]), cwd="/", check=check,
                              capture_output=True, text=True)

    def start(self):
        self.tool("pg_ctl", "-D", self.data, "-l", os.path.join(self.data, "server.log"), "-w", "start", "-o",
                  f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data} -c max_connections=200")

    def crash(self):
        self.tool("pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")

    def stop(self):
        self.tool("pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop", check=False)

    def url(self, database="fazhi"):
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def psql(self, sql, database="fazhi"):
        """Rows of the last statement, as lists of strings."""
        done = subprocess.run([os.path.join(self.bin, "psql"), "-X", "-q", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1",
                               self.url(database), "-c", sql], capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"psql: {done.stderr.strip()}\n{sql}")
        return [line.split("\t") for line in done.stdout.splitlines() if line]

    def scalar(self, sql, database="fazhi"):
        return self.psql(sql, database)[0][0]


class Server:
    """`fazhi dev` on the matrix's cluster; its output goes to a log file."""

    def __init__(self, binary, cluster, database="fazhi", port=None):
        self.binary, self.cluster, self.database = binary, cluster, database
        self.port = port or e2e.free_port()
        self.log = os.path.join(WORK, f"server-{self.port}.log")
        self.process = None

    def start(self):
        env = dict(os.environ, NO_COLOR="1", FAZHI__DATABASE__URL=self.cluster.url(self.database),
                   FAZHI__SERVER__LISTEN_ADDRESS=f"127.0.0.1:{self.port}", FAZHI__DATABASE__AUDIT_KEY=AUDIT_KEY,
                   FAZHI__TELEMETRY__LOG_FORMAT="json")
        log = open(self.log, "a", encoding="utf-8")
        self.process = subprocess.Popen([self.binary, "dev"], cwd=e2e.ROOT, env=env, stdout=log,
                                        stderr=subprocess.STDOUT)
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"fazhi dev exited: see {self.log}")
            with socket_to(self.port) as reachable:
                if reachable:
                    return
            time.sleep(0.1)
        raise SystemExit(f"fazhi dev did not listen: see {self.log}")

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


class socket_to:  # noqa: N801 (a context manager read as a phrase)
    def __init__(self, port):
        import socket
        self.socket = socket.socket()
        self.socket.settimeout(0.2)
        self.port = port

    def __enter__(self):
        try:
            self.socket.connect(("127.0.0.1", self.port))
            return True
        except OSError:
            return False

    def __exit__(self, *_):
        self.socket.close()


class Matrix:
    def __init__(self, binary):
        import grpc
        from grpc_status import rpc_status
        from google.rpc import error_details_pb2
        from fazhi.units.v1 import units_pb2, units_service_pb2 as us, units_service_pb2_grpc
        from fazhi.plans.v1 import plans_pb2, plans_service_pb2 as ps, plans_service_pb2_grpc
        from fazhi.audit.v1 import audit_pb2
        self.grpc, self.rpc_status, self.details = grpc, rpc_status, error_details_pb2
        self.u, self.us, self.p, self.ps, self.audit_pb2 = units_pb2, us, plans_pb2, ps, audit_pb2
        self.binary = binary
        self.rows = []
        self.tokens = {}
        self.cluster = Cluster()
        self.server = Server(binary, self.cluster)
        self.server.start()
        self.channel = self.open_channel(self.server.port)
        self.units = units_service_pb2_grpc.UnitsServiceStub(self.channel)
        self.plans = plans_service_pb2_grpc.PlansServiceStub(self.channel)
        self.units_stub, self.plans_stub = units_service_pb2_grpc.UnitsServiceStub, plans_service_pb2_grpc.PlansServiceStub

    def open_channel(self, port):
        channel = self.grpc.insecure_channel(f"127.0.0.1:{port}", options=[
            ("grpc.initial_reconnect_backoff_ms", 100), ("grpc.min_reconnect_backoff_ms", 100),
            ("grpc.max_reconnect_backoff_ms", 500), ("grpc.max_receive_message_length", 64 << 20)])
        self.grpc.channel_ready_future(channel).result(timeout=60)
        return channel

    # -- figures ----------------------------------------------------------------------------
    def row(self, scenario, figure, ok):
        self.rows.append((scenario, figure, ok))
        print(f"  {'ok  ' if ok else 'FAIL'}  {scenario}: {figure}", flush=True)

    def table(self):
        width = max(len(scenario) for scenario, _, _ in self.rows)
        lines = [f"| {'scenario'.ljust(width)} | figures | |", f"| {'-' * width} | --- | --- |"]
        lines += [f"| {scenario.ljust(width)} | {figure} | {'ok' if ok else '**FAIL**'} |"
                  for scenario, figure, ok in self.rows]
        return "\n".join(lines)

    # -- calls ------------------------------------------------------------------------------
    def token(self, role, unit=None, subject=None):
        key = (role, unit, subject)
        if key not in self.tokens:
            command = [self.binary, "token", "--role", role, "--subject", subject or f"{role}-{unit or 'all'}"]
            if unit:
                command += ["--unit", unit]
            self.tokens[key] = subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()
        return [("authorization", f"Bearer {self.tokens[key]}")]

    def admin(self):
        return self.token("admin", subject="matrix-admin")

    def status(self, error):
        """(code name, ErrorInfo reason or None) of a failed call."""
        reason = None
        status = self.rpc_status.from_call(error)
        for detail in status.details if status else []:
            if detail.Is(self.details.ErrorInfo.DESCRIPTOR):
                info = self.details.ErrorInfo()
                detail.Unpack(info)
                reason = info.reason
        return error.code().name, reason

    def outcome(self, call, request, metadata, timeout=30):
        """'OK' or the status code's name, and the ErrorInfo reason."""
        try:
            call(request, metadata=metadata, timeout=timeout)
            return "OK", None
        except self.grpc.RpcError as error:
            return self.status(error)

    # -- the generated tree -------------------------------------------------------------------
    DEPARTMENTS = ["司法局", "财政局", "公安局", "教育局", "民政局", "自然资源局", "生态环境局", "卫生健康委员会",
                   "市场监督管理局"]
    COUNTIES = ["甲", "乙", "丙", "丁", "戊", "己"]

    def build_tree(self):
        """61 units: a city, six counties, nine departments in each; a group owned by each unit;
        a published plan of the city and of each county assigning work to its departments."""
        lines = ["units:", '  - {id: rl, display_name: 演练市人民政府, short_name: 市政府, kind: government, '
                 'level: city, region_code: "990100"}']
        # The write load goes under a root of its own, outside the tree the oracle walks.
        lines.append("  - {id: load, display_name: 压测根单位, kind: other, level: city}")
        self.parent = {"rl": None}
        for county_index, county in enumerate(self.COUNTIES, 1):
            county_id = f"rl-c{county_index}"
            self.parent[county_id] = "rl"
            lines.append(f"  - {{id: {county_id}, display_name: {county}县人民政府, short_name: 县政府, kind: government, "
                         f'level: county, parent: rl, region_code: "9901{county_index:02d}"}}')
            for index, department in enumerate(self.DEPARTMENTS, 1):
                unit = f"{county_id}-d{index}"
                self.parent[unit] = county_id
                lines.append(f"  - {{id: {unit}, display_name: {county}县{department}, short_name: 县{department}, "
                             f"kind: government_department, level: county, parent: {county_id}}}")
        self.tree = list(self.parent)
        assert len(self.tree) == 61, len(self.tree)
        self.units.ImportUnits(self.us.ImportUnitsRequest(format=self.us.REGISTRY_FORMAT_YAML, request_id="tree",
                                                          content="\n".join(lines).encode()), metadata=self.admin())
        for unit in self.tree:
            self.units.CreateUnitGroup(self.us.CreateUnitGroupRequest(
                unit_group_id=f"g-{unit}", request_id=f"group-{unit}", unit_group=self.u.UnitGroup(
                    display_name=f"演练组{unit}", owner_unit=f"units/{unit}",
                    static_members=self.u.StaticMembers(units=[f"units/{unit}"]))), metadata=self.admin())
        self.plan_of = {}
        for issuer in ["rl"] + [f"rl-c{index}" for index in range(1, 7)]:
            # The city assigns to its counties, a county to its departments.
            names = ([f"{county}县人民政府" for county in self.COUNTIES] if issuer == "rl"
                     else [f"县{name}" for name in self.DEPARTMENTS])
            text = (f"演练{issuer}法治政府建设工作要点\n\n一、推进依法行政\n1. 加强行政执法监督。\n"
                    f"  牵头单位:{names[0]}\n  责任单位:{'、'.join(names[1:])}\n")
            imported = self.plans.ImportPlan(self.ps.ImportPlanRequest(
                issuer=f"units/{issuer}", content=text.encode(), request_id=f"plan-{issuer}"), metadata=self.admin())
            plan = imported.plan
            self.plans.PublishPlan(self.ps.PublishPlanRequest(name=plan.name, etag=plan.etag,
                                                              request_id=f"publish-{issuer}"), metadata=self.admin())
            self.plan_of[issuer] = plan.name
        self.assignment_of = {}
        for plan in self.plan_of.values():
            for assignment in self.plans.ListAssignments(self.ps.ListAssignmentsRequest(plan=plan, page_size=100),
                                                         metadata=self.admin()).assignments:
                self.assignment_of.setdefault(assignment.unit.removeprefix("units/"), assignment.name)
        self.row("generated tree", f"{len(self.tree)} units, {len(self.plan_of)} published plans, "
                 f"{len(self.assignment_of)} units with an assignment", len(self.assignment_of) == 60)

    def ancestry(self, unit):
        chain = []
        while unit:
            chain.append(unit)
            unit = self.parent.get(unit)
        return chain

    # -- writes under faults ------------------------------------------------------------------
    def writes_under_faults(self, name, fault, rounds, clients, seconds):
        """`clients` threads create units (one request id each, retried until answered) while
        `fault` strikes `rounds` times; then every acknowledged unit is there once, with one
        audit row and one event, and nothing else was created."""
        prefix = f"{name[:2]}{random.randrange(10**6)}"
        acknowledged, gave_up, stop = [], [], threading.Event()
        lock = threading.Lock()

        def writer(client):
            index = 0
            while not stop.is_set():
                index += 1
                display = f"{prefix}号单位{client}-{index}"
                request = self.us.CreateUnitRequest(request_id=f"{prefix}-{client}-{index}", unit=self.u.Unit(
                    display_name=display, parent="units/load", kind=self.u.UNIT_KIND_OTHER,
                    level=self.u.ADMINISTRATIVE_LEVEL_CITY))
                deadline = time.time() + 120
                while True:
                    try:
                        answer = self.units.CreateUnit(request, metadata=self.admin(), timeout=5)
                        with lock:
                            acknowledged.append((display, answer.unit.name))
                        break
                    except self.grpc.RpcError as error:
                        if error.code() in (self.grpc.StatusCode.INVALID_ARGUMENT,
                                            self.grpc.StatusCode.PERMISSION_DENIED) or time.time() > deadline:
                            with lock:
                                gave_up.append((display, self.status(error)))
                            break
                        time.sleep(0.05)

        threads = [threading.Thread(target=writer, args=(client,)) for client in range(clients)]
        for thread in threads:
            thread.start()
        for _ in range(rounds):
            time.sleep(seconds / (rounds + 1))
            fault()
        time.sleep(seconds / (rounds + 1))
        stop.set()
        for thread in threads:
            thread.join()
        stored = self.cluster.psql(
            f"SELECT v.display_name, count(*) FROM units.unit_versions v WHERE v.display_name LIKE '{prefix}号%' "
            "GROUP BY 1")
        counts = {display: int(count) for display, count in stored}
        names = [name for _, name in acknowledged]
        audit = dict(self.cluster.psql(
            "SELECT resource, count(*) FROM units.audit_log WHERE method LIKE '%/CreateUnit' AND result = 'OK' "
            f"AND resource IN (SELECT 'units/' || unit_id FROM units.unit_versions WHERE display_name LIKE '{prefix}号%') "
            "GROUP BY 1"))
        events = dict(self.cluster.psql(
            "SELECT resource, count(*) FROM units.events WHERE event_type = 'unit.created' "
            f"AND resource IN (SELECT 'units/' || unit_id FROM units.unit_versions WHERE display_name LIKE '{prefix}号%') "
            "GROUP BY 1"))
        lost = sum(1 for display, _ in acknowledged if display not in counts)
        duplicates = sum(count - 1 for count in counts.values())
        unacknowledged = len(set(counts) - {display for display, _ in acknowledged})
        bad_audit = sum(1 for name in names if audit.get(name) != "1")
        bad_events = sum(1 for name in names if events.get(name) != "1")
        self.row(f"{name} {rounds}× under {clients} writers",
                 f"{len(acknowledged)} acknowledged creates, {lost} lost, {duplicates} duplicates, "
                 f"{unacknowledged} stored unacknowledged, {bad_audit} without exactly one audit row, "
                 f"{bad_events} without exactly one event, {len(gave_up)} gave up",
                 len(acknowledged) > 0 and not (lost or duplicates or unacknowledged or bad_audit or bad_events
                                                or gave_up))

    def crash_postgres(self):
        self.cluster.crash()
        time.sleep(1)
        self.cluster.start()

    def kill_server(self):
        self.server.kill()
        time.sleep(0.5)
        self.server.start()


    # -- retries, conflicts, load ------------------------------------------------------------
    def duplicate_retries(self, total, distinct):
        """`total` concurrent creates over `distinct` request ids: each id creates one unit, and
        every answer to one id is the same unit."""
        prefix = f"dup{random.randrange(10**6)}"

        def create(index):
            key = index % distinct
            request = self.us.CreateUnitRequest(request_id=f"{prefix}-{key}", unit=self.u.Unit(
                display_name=f"{prefix}重复{key}", parent="units/load", kind=self.u.UNIT_KIND_OTHER,
                level=self.u.ADMINISTRATIVE_LEVEL_CITY))
            return key, self.units.CreateUnit(request, metadata=self.admin(), timeout=30).unit.name

        with concurrent.futures.ThreadPoolExecutor(64) as pool:
            answers = list(pool.map(create, range(total)))
        names = {}
        for key, name in answers:
            names.setdefault(key, set()).add(name)
        stored = int(self.cluster.scalar(
            f"SELECT count(*) FROM units.unit_versions WHERE display_name LIKE '{prefix}重复%'"))
        self.row("duplicate retries", f"{total} concurrent calls over {distinct} request ids → {stored} units, "
                 f"{sum(len(found) - 1 for found in names.values())} ids answered with two units",
                 stored == distinct and all(len(found) == 1 for found in names.values()))

    def etag_conflicts(self, clients, each):
        """Read-modify-write of one counter by `clients` at once, retrying on ABORTED: no update
        is lost."""
        name = self.units.CreateUnit(self.us.CreateUnitRequest(request_id=f"counter-{random.randrange(10**6)}",
                                     unit=self.u.Unit(display_name=f"计数单位{random.randrange(10**6)}",
                                                      short_name="0", parent="units/load",
                                                      kind=self.u.UNIT_KIND_OTHER,
                                                      level=self.u.ADMINISTRATIVE_LEVEL_CITY)),
                                     metadata=self.admin()).unit.name
        conflicts = [0] * clients
        from google.protobuf import field_mask_pb2

        def increment(client):
            for index in range(each):
                while True:
                    unit = self.units.GetUnit(self.us.GetUnitRequest(name=name), metadata=self.admin()).unit
                    update = self.u.Unit(name=name, short_name=str(int(unit.short_name) + 1), etag=unit.etag)
                    try:
                        self.units.UpdateUnit(self.us.UpdateUnitRequest(
                            unit=update, update_mask=field_mask_pb2.FieldMask(paths=["short_name"]),
                            request_id=f"{name}-{client}-{index}-{conflicts[client]}"), metadata=self.admin())
                        break
                    except self.grpc.RpcError as error:
                        if error.code() != self.grpc.StatusCode.ABORTED:
                            raise
                        conflicts[client] += 1

        with concurrent.futures.ThreadPoolExecutor(clients) as pool:
            list(pool.map(increment, range(clients)))
        final = int(self.units.GetUnit(self.us.GetUnitRequest(name=name), metadata=self.admin()).unit.short_name)
        self.row("etag conflicts", f"{clients} clients × {each} read-modify-writes, {sum(conflicts)} ETAG_MISMATCH "
                 f"retries → counter {final} ({clients * each - final} lost updates)", final == clients * each)

    def pool_exhaustion(self, calls):
        """Far more concurrent calls than the pool has connections: each is answered OK or
        UNAVAILABLE with ErrorInfo, never INTERNAL, and the health check still answers."""
        from grpc_health.v1 import health_pb2, health_pb2_grpc
        request = self.us.ListUnitsRequest(parent="units/load", page_size=1000)
        futures = [self.units.ListUnits.future(request, metadata=self.admin(), timeout=30) for _ in range(calls)]
        started = time.time()
        health = health_pb2_grpc.HealthStub(self.channel).Check(
            health_pb2.HealthCheckRequest(service="fazhi.units.v1.UnitsService"), timeout=5)
        health_ms = (time.time() - started) * 1000
        outcomes = {}
        bare = 0
        for future in futures:
            try:
                future.result()
                outcomes["OK"] = outcomes.get("OK", 0) + 1
            except self.grpc.RpcError as error:
                code, reason = self.status(error)
                outcomes[code] = outcomes.get(code, 0) + 1
                bare += reason is None
        self.row("pool exhaustion", f"{calls} concurrent ListUnits on a 16-connection pool → "
                 + ", ".join(f"{count} {code}" for code, count in sorted(outcomes.items()))
                 + f"; {bare} without ErrorInfo; health answered {health.status == 1 and 'SERVING' or health.status} "
                 f"in {health_ms:.0f} ms",
                 set(outcomes) <= {"OK", "UNAVAILABLE"} and bare == 0 and outcomes.get("OK", 0) > 0
                 and health.status == health_pb2.HealthCheckResponse.SERVING)

    def registry(self, prefix, count):
        lines = ["units:"] + [f"  - {{id: {prefix}-{index}, display_name: {prefix}导入单位{index}, kind: other, "
                              f"level: city, parent: load}}" for index in range(count)]
        return "\n".join(lines).encode()

    def imported(self, prefix):
        return int(self.cluster.scalar(f"SELECT count(*) FROM units.units WHERE id LIKE '{prefix}-%'"))

    def idle_sessions(self):
        """Sessions of the server still in a transaction or running a statement a second after
        the calls ended, and for over half of it (`fazhi dev`'s own background work comes and
        goes meanwhile)."""
        time.sleep(1)
        busy = self.cluster.psql(
            "SELECT application_name, state, now() - state_change, translate(left(query, 120), E'\\n', ' ') "
            "FROM pg_stat_activity "
            "WHERE datname = 'fazhi' AND pid <> pg_backend_pid() AND backend_type = 'client backend' "
            "AND (state LIKE 'idle in transaction%' OR state = 'active') "
            "AND now() - state_change > interval '0.5 seconds'")
        for session in busy:
            print("        busy session:", session)
        return len(busy)

    def client_deadlines(self, calls, deadline=0.2):
        """A 200 ms deadline on calls that take longer (a 2,000-unit import, 1,000 long
        mentions): DEADLINE_EXCEEDED within the deadline + 100 ms, the import whole or not at all,
        and no session left working."""
        mentions = [f"演练市某某{index}" + "法治" * 90 for index in range(1000)]
        codes, late, partial = {}, 0, 0
        slowest = 0.0
        for index in range(calls):
            prefix = f"dl{random.randrange(10**6)}x{index}"
            if index % 2:
                call, request = self.units.ResolveUnitMentions, self.us.ResolveUnitMentionsRequest(
                    context_unit="units/rl", mentions=mentions)
            else:
                call, request = self.units.ImportUnits, self.us.ImportUnitsRequest(
                    format=self.us.REGISTRY_FORMAT_YAML, content=self.registry(prefix, 2000), request_id=prefix)
            started = time.time()
            code, _ = self.outcome(call, request, self.admin(), timeout=deadline)
            took = time.time() - started
            slowest = max(slowest, took)
            codes[code] = codes.get(code, 0) + 1
            late += took > deadline + 0.1
            if not index % 2:
                partial += self.imported(prefix) not in (0, 2000)
        reads, reads_late, reads_waiting = self.reads_behind_a_lock(max(calls // 5, 4), deadline)
        left = self.idle_sessions()
        self.row("client deadlines", f"{calls} calls with a {deadline * 1000:.0f} ms deadline → "
                 + ", ".join(f"{count} {code}" for code, count in sorted(codes.items()))
                 + f"; slowest answer {slowest * 1000:.0f} ms, {late} later than deadline + 100 ms; "
                 f"{partial} imports half-written; {sum(reads.values())} reads held behind a table lock → "
                 + ", ".join(f"{count} {code}" for code, count in sorted(reads.items()))
                 + f", {reads_late} late, {reads_waiting} still waiting in Postgres 1 s later; "
                 f"{left} sessions left busy",
                 set(codes) <= {"OK", "DEADLINE_EXCEEDED"} and late == 0 and partial == 0 and left == 0
                 and set(reads) == {"DEADLINE_EXCEEDED"} and reads_late == 0 and reads_waiting == 0)

    def reads_behind_a_lock(self, calls, deadline):
        """GetUnit as of a day while another session holds `units.units` locked: each call answers
        DEADLINE_EXCEEDED in time and its statement stops in Postgres instead of waiting on for
        nobody until `lock_timeout`. Counted by the statement only such a call makes (`fazhi dev`'s
        own callers, blocked meanwhile, wait at the lifetime query that comes first without a day)."""
        holder = subprocess.Popen([os.path.join(self.cluster.bin, "psql"), "-X", "-q", self.cluster.url("fazhi")],
                                  stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        holder.stdin.write("BEGIN; LOCK TABLE units.units IN ACCESS EXCLUSIVE MODE;\n")
        holder.stdin.flush()
        lock_held = ("SELECT count(*) FROM pg_locks WHERE relation = 'units.units'::regclass "
                     "AND mode = 'AccessExclusiveLock' AND granted")
        while self.cluster.scalar(lock_held) == "0":
            time.sleep(0.05)
        codes, late = {}, 0
        for _ in range(calls):
            started = time.time()
            code, _ = self.outcome(self.units.GetUnit, self.us.GetUnitRequest(name="units/rl", as_of="2025-06-30"),
                                   self.admin(), timeout=deadline)
            late += time.time() - started > deadline + 0.1
            codes[code] = codes.get(code, 0) + 1
        time.sleep(1)
        waiting = self.cluster.psql(
            "SELECT application_name, now() - query_start, translate(left(query, 120), E'\\n', ' ') "
            "FROM pg_stat_activity WHERE datname = 'fazhi' AND wait_event_type = 'Lock' "
            "AND strpos(query, 'WHERE u.id = $2 AND') > 0")
        for session in waiting:
            print("        waiting session:", session)
        holder.stdin.write("ROLLBACK;\n")
        holder.stdin.close()
        holder.wait()
        return codes, late, len(waiting)

    def cancellation(self, calls):
        """Imports cancelled by the client at a random moment: each is all or nothing."""
        outcomes = {"all": 0, "nothing": 0, "partial": 0}
        for index in range(calls):
            prefix = f"cx{random.randrange(10**6)}x{index}"
            future = self.units.ImportUnits.future(self.us.ImportUnitsRequest(
                format=self.us.REGISTRY_FORMAT_YAML, content=self.registry(prefix, 1000), request_id=prefix),
                metadata=self.admin(), timeout=30)
            time.sleep(random.uniform(0.005, 0.4))
            future.cancel()
            try:
                future.result()
            except (self.grpc.RpcError, self.grpc.FutureCancelledError):
                pass
            time.sleep(0.3)
            count = self.imported(prefix)
            outcomes["all" if count == 1000 else "nothing" if count == 0 else "partial"] += 1
        left = self.idle_sessions()
        self.row("cancellation mid-call", f"{calls} imports of 1,000 units cancelled at 5–400 ms → "
                 f"{outcomes['all']} whole, {outcomes['nothing']} not at all, {outcomes['partial']} partial; "
                 f"{left} sessions left busy", outcomes["partial"] == 0 and left == 0)

    # -- hostile input ----------------------------------------------------------------------
    def malformed(self, bodies):
        """Bytes that are not the request message: INVALID_ARGUMENT with ErrorInfo (or, when they
        happen to decode, an ordinary answer), never INTERNAL; an oversized message
        RESOURCE_EXHAUSTED with ErrorInfo."""
        methods = ["/fazhi.units.v1.UnitsService/GetUnit", "/fazhi.units.v1.UnitsService/CreateUnit",
                   "/fazhi.units.v1.UnitsService/ListUnits", "/fazhi.plans.v1.PlansService/ImportPlan",
                   "/fazhi.plans.v1.PlansService/ClaimAssignment"]
        codes, bare = {}, 0
        for index in range(bodies):
            call = self.channel.unary_unary(methods[index % len(methods)])
            body = random.randbytes(random.randint(1, 300))
            try:
                call(body, metadata=self.admin(), timeout=10)
                code, reason = "OK", "-"
            except self.grpc.RpcError as error:
                code, reason = self.status(error)
            codes[code] = codes.get(code, 0) + 1
            bare += reason is None
        self.row("malformed messages", f"{bodies} random bodies → "
                 + ", ".join(f"{count} {code}" for code, count in sorted(codes.items()))
                 + f"; {bare} errors without ErrorInfo",
                 not {"INTERNAL", "UNKNOWN"} & set(codes) and bare == 0)
        big = self.channel.unary_unary("/fazhi.units.v1.UnitsService/CreateUnit")
        try:
            big(b"\x0a" + b"\xff" * (17 << 20), metadata=self.admin(), timeout=30)
            code, reason = "OK", None
        except self.grpc.RpcError as error:
            code, reason = self.status(error)
        self.row("oversized message", f"17 MiB → {code} {reason}", code == "RESOURCE_EXHAUSTED" and reason)

    PAYLOADS = ["' OR '1'='1", "'; DROP TABLE units.units; --", '" OR 1=1 --', "%' AND pg_sleep(5) --",
                "1; SELECT pg_sleep(5)", "$$; DROP SCHEMA units CASCADE; $$", "\x00", "a\x00b", "units/rl\x00",
                "${jndi:ldap://x/a}", "{{7*7}}", "%s%s%s%n", "../../etc/passwd", "<script>alert(1)</script>",
                "\u3000", "\u202e反转", "𠮷" * 60, "A" * 10000, "units/../units/rl", "units/rl' --", "*", "%", "_",
                "\\", "''", "NULL", "-1", "9" * 40, "\t\n\r", "\ufeff", "units/rl); DELETE FROM units.units; --",
                "' UNION SELECT chain FROM units.audit_log --", "\x1b[31m", "😀" * 30, "🀄\u0301\u0301"]

    def schema_digest(self):
        return self.cluster.scalar(
            "SELECT md5(string_agg(line, ',' ORDER BY line)) FROM ("
            " SELECT table_schema || '.' || table_name || '.' || column_name || ':' || data_type AS line"
            "   FROM information_schema.columns WHERE table_schema IN ('units', 'plans')"
            " UNION ALL SELECT n.nspname || '.' || p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
            "   WHERE n.nspname IN ('units', 'plans')"
            " UNION ALL SELECT tgrelid::regclass::text || ':' || tgname || ':' || tgenabled::text FROM pg_trigger"
            "   WHERE NOT tgisinternal AND tgrelid::regclass::text ~ '^(units|plans)\\.'"
            " UNION ALL SELECT grantee || ':' || table_schema || '.' || table_name || ':' || privilege_type"
            "   FROM information_schema.table_privileges WHERE table_schema IN ('units', 'plans')"
            " UNION ALL SELECT rolname || ':' || rolsuper::text FROM pg_roles) AS catalog")

    def injection(self):
        """Injection-style strings in every kind of text a caller sends: no INTERNAL, and the
        schemas, functions, triggers and grants are as before."""
        before = self.schema_digest()
        audit_filter = self.audit_pb2.AuditRecordFilter
        calls = [
            (self.units.ListUnits, lambda p: self.us.ListUnitsRequest(search=p)),
            (self.units.ListUnits, lambda p: self.us.ListUnitsRequest(parent=p)),
            (self.units.GetUnit, lambda p: self.us.GetUnitRequest(name=f"units/{p}")),
            (self.units.GetUnit, lambda p: self.us.GetUnitRequest(name="units/rl", as_of=p)),
            (self.units.ResolveUnitMentions, lambda p: self.us.ResolveUnitMentionsRequest(
                context_unit="units/rl", mentions=[p])),
            (self.units.CreateUnit, lambda p: self.us.CreateUnitRequest(request_id=hashlib.md5(p.encode()).hexdigest(),
                                                                        unit=self.u.Unit(
                display_name=p, short_name=p, aliases=[p], parent="units/load", kind=self.u.UNIT_KIND_OTHER,
                level=self.u.ADMINISTRATIVE_LEVEL_CITY))),
            (self.units.ListAuditRecords, lambda p: self.us.ListAuditRecordsRequest(filter=audit_filter(
                resource=p, subject=p, method=p, result=p, caller_unit=p))),
            (self.plans.ListPlans, lambda p: self.ps.ListPlansRequest(issuer=p)),
            (self.plans.GetPlan, lambda p: self.ps.GetPlanRequest(name=f"plans/{p}")),
            (self.plans.ListAssignments, lambda p: self.ps.ListAssignmentsRequest(unit=p)),
            (self.plans.ImportPlan, lambda p: self.ps.ImportPlanRequest(
                issuer="units/rl", content=f"演练{p}方案\n一、{p}\n1. {p}。\n  牵头单位:{p}\n".encode(),
                validate_only=True, request_id=f"inj{hashlib.md5(p.encode()).hexdigest()}")),
            (self.plans.ListAuditRecords, lambda p: self.ps.ListAuditRecordsRequest(filter=audit_filter(
                resource=p, subject=p))),
        ]
        codes = {}
        for payload in self.PAYLOADS:
            for call, request in calls:
                code, _ = self.outcome(call, request(payload), self.admin())
                codes[code] = codes.get(code, 0) + 1
        after = self.schema_digest()
        self.row("injection payloads", f"{len(self.PAYLOADS)} payloads × {len(calls)} fields → "
                 + ", ".join(f"{count} {code}" for code, count in sorted(codes.items()))
                 + f"; schema digest {'unchanged' if before == after else 'CHANGED'}",
                 not {"INTERNAL", "UNKNOWN"} & set(codes) and before == after)


    # -- authorisation --------------------------------------------------------------------------
    CALLERS = [("admin", None), ("coordinator", "rl"), ("coordinator", "rl-c1"), ("unit_staff", "rl-c1-d1"),
               ("viewer", "rl-c1")]

    def manages(self, caller, unit):
        role, own = caller
        return role == "admin" or (role == "coordinator" and own in self.ancestry(unit))

    def works_for(self, caller, unit):
        return (caller[0] == "unit_staff" and caller[1] == unit) or self.manages(caller, unit)

    def reads(self, caller, unit):
        return self.works_for(caller, unit) or (caller[0] == "viewer" and caller[1] in self.ancestry(unit))

    def oracle_calls(self, caller, target, serial):
        """Every RPC aimed at `target`, with whether `caller` may make it (the rules of
        docs/api.md, written here independently of the server's code). Mutations carry a stale
        etag where they take one, so an allowed call is refused for that after authorisation and
        the tree stays as it is."""
        from google.protobuf import field_mask_pb2
        us, ps, u = self.us, self.ps, self.u
        name, stale = f"units/{target}", "stale-etag"
        anyone, manages, works = True, self.manages(caller, target), self.works_for(caller, target)
        reads = self.reads(caller, target)
        auditor = caller[0] in ("admin", "coordinator")
        mask = field_mask_pb2.FieldMask
        rid = f"oracle-{serial}"
        calls = [
            ("GetUnit", anyone, self.units.GetUnit, us.GetUnitRequest(name=name)),
            ("ListUnits", anyone, self.units.ListUnits, us.ListUnitsRequest(parent=name)),
            ("ListUnitAncestors", anyone, self.units.ListUnitAncestors, us.ListUnitAncestorsRequest(name=name)),
            ("ListUnitDescendants", anyone, self.units.ListUnitDescendants,
             us.ListUnitDescendantsRequest(name=name)),
            ("GetUnitGroup", anyone, self.units.GetUnitGroup, us.GetUnitGroupRequest(name=f"unitGroups/g-{target}")),
            ("ListUnitGroups", anyone, self.units.ListUnitGroups, us.ListUnitGroupsRequest()),
            ("ExpandUnitGroup", anyone, self.units.ExpandUnitGroup,
             us.ExpandUnitGroupRequest(name=f"unitGroups/g-{target}", context_unit=name)),
            ("ListReorganizations", anyone, self.units.ListReorganizations,
             us.ListReorganizationsRequest(unit=name)),
            ("ResolveUnitMentions", anyone, self.units.ResolveUnitMentions,
             us.ResolveUnitMentionsRequest(context_unit=name, mentions=["县司法局"])),
            ("ExportUnits", anyone, self.units.ExportUnits, us.ExportUnitsRequest(format=us.REGISTRY_FORMAT_CSV)),
            ("CreateUnit", manages, self.units.CreateUnit, us.CreateUnitRequest(request_id=rid, unit=u.Unit(
                display_name=f"演练新设单位{serial}", parent=name, kind=u.UNIT_KIND_OTHER,
                level=u.ADMINISTRATIVE_LEVEL_COUNTY))),
            ("UpdateUnit(display_name)", manages, self.units.UpdateUnit, us.UpdateUnitRequest(
                request_id=rid + "n", update_mask=mask(paths=["display_name"]),
                unit=u.Unit(name=name, display_name="演练改名", etag=stale))),
            ("UpdateUnit(contacts)", works, self.units.UpdateUnit, us.UpdateUnitRequest(
                request_id=rid + "c", update_mask=mask(paths=["contacts"]), unit=u.Unit(
                    name=name, etag=stale, contacts=[u.Contact(person_name="张三", role=1, phone="0563-1234567")]))),
            ("DeleteUnit", manages, self.units.DeleteUnit, us.DeleteUnitRequest(name=name, etag=stale,
                                                                               request_id=rid)),
            ("CreateUnitGroup", manages, self.units.CreateUnitGroup, us.CreateUnitGroupRequest(
                request_id=rid, unit_group_id=f"og-{serial}", unit_group=u.UnitGroup(
                    display_name=f"演练新组{serial}", owner_unit=name,
                    static_members=u.StaticMembers(units=[name])))),
            ("DeleteUnitGroup", manages, self.units.DeleteUnitGroup, us.DeleteUnitGroupRequest(
                name=f"unitGroups/g-{target}", etag=stale, request_id=rid)),
            ("ReorganizeUnits", manages, self.units.ReorganizeUnits, us.ReorganizeUnitsRequest(
                request_id=rid, reorganization=u.Reorganization(
                    kind=u.REORGANIZATION_KIND_RENAME, effective_date=f"2090-01-{1 + serial % 28:02d}",
                    source_units=[name], new_display_name=f"演练更名{serial}"))),
            ("ImportUnits", caller[0] == "admin", self.units.ImportUnits, us.ImportUnitsRequest(
                format=us.REGISTRY_FORMAT_YAML, validate_only=True, request_id=rid,
                content=f"units:\n  - {{id: v{serial}, display_name: 演练校验{serial}, kind: other, level: city}}\n"
                .encode())),
            ("units ListAuditRecords", auditor, self.units.ListAuditRecords, us.ListAuditRecordsRequest(
                filter=self.audit_pb2.AuditRecordFilter(resource=name))),
            ("plans ImportPlan", manages, self.plans.ImportPlan, ps.ImportPlanRequest(
                issuer=name, validate_only=True, request_id=rid,
                content="演练方案\n一、任务\n1. 加强监督。\n  牵头单位:县司法局\n".encode())),
            ("plans ListAssignments(unit)", reads, self.plans.ListAssignments, ps.ListAssignmentsRequest(unit=name)),
            ("plans ListOverdueAssignments(unit)", reads, self.plans.ListOverdueAssignments,
             ps.ListOverdueAssignmentsRequest(unit=name, as_of="2030-01-01")),
            ("plans ListAuditRecords", auditor, self.plans.ListAuditRecords, ps.ListAuditRecordsRequest()),
            ("plans ListPlans", anyone, self.plans.ListPlans, ps.ListPlansRequest(issuer=name)),
        ]
        parent = self.parent[target]
        if parent in self.plan_of:
            calls.append(("plans CascadePlan", manages, self.plans.CascadePlan, ps.CascadePlanRequest(
                parent_plan=self.plan_of[parent], issuer=name, request_id=rid)))
        if target in self.plan_of:
            plan = self.plan_of[target]
            task = self.task_of[plan]
            calls += [
                ("plans GetPlan", anyone, self.plans.GetPlan, ps.GetPlanRequest(name=plan)),
                ("plans ListTasks", anyone, self.plans.ListTasks, ps.ListTasksRequest(parent=plan)),
                ("plans GetCoverageReport", anyone, self.plans.GetCoverageReport,
                 ps.GetCoverageReportRequest(plan=plan)),
                ("plans ExportPlan(breakdown)", anyone, self.plans.ExportPlan,
                 ps.ExportPlanRequest(name=plan, table=1)),
                ("plans ExportPlan(progress)", manages, self.plans.ExportPlan,
                 ps.ExportPlanRequest(name=plan, table=2)),
                ("plans ListAssignments(plan)", reads, self.plans.ListAssignments,
                 ps.ListAssignmentsRequest(plan=plan)),
                ("plans ListOverdueAssignments(plan)", reads, self.plans.ListOverdueAssignments,
                 ps.ListOverdueAssignmentsRequest(plan=plan, as_of="2030-01-01")),
                ("plans PublishPlan", manages, self.plans.PublishPlan, ps.PublishPlanRequest(
                    name=plan, etag=stale, request_id=rid)),
                ("plans UpdatePlan", manages, self.plans.UpdatePlan, ps.UpdatePlanRequest(
                    plan=self.p.Plan(name=plan, title="演练改题", etag=stale), update_mask=mask(paths=["title"]),
                    request_id=rid)),
                ("plans CreateTask", manages, self.plans.CreateTask, ps.CreateTaskRequest(
                    parent=plan, task=self.p.Task(number="9", title="演练新任务"), etag=stale, request_id=rid)),
                ("plans UpdateTask", manages, self.plans.UpdateTask, ps.UpdateTaskRequest(
                    task=self.p.Task(name=task, title="演练改任务"), update_mask=mask(paths=["title"]), etag=stale,
                    request_id=rid)),
                ("plans MoveTask", manages, self.plans.MoveTask, ps.MoveTaskRequest(
                    name=task, place=ps.TaskPlace(part_number="一", part_title="任务"), etag=stale,
                    request_id=rid)),
                ("plans DeleteTask", manages, self.plans.DeleteTask, ps.DeleteTaskRequest(
                    name=task, etag=stale, request_id=rid)),
                ("plans ClosePlan", manages, self.plans.ClosePlan, ps.ClosePlanRequest(
                    name=plan, etag=stale, request_id=rid)),
                ("plans DeletePlan", manages, self.plans.DeletePlan, ps.DeletePlanRequest(
                    name=plan, etag=stale, request_id=rid)),
            ]
        if target in self.assignment_of:
            assignment = self.assignment_of[target]
            issuer_manages = self.manages(caller, parent)
            sibling = next(unit for unit in self.tree if self.parent.get(unit) == parent and unit != target)
            calls += [
                ("plans ClaimAssignment", works, self.plans.ClaimAssignment, ps.ClaimAssignmentRequest(
                    name=assignment, etag=stale, request_id=rid, work_plan=self.p.WorkPlan(
                        leader_in_charge="李四", person_responsible="王五", measures="按期推进"))),
                ("plans ReportProgress", works, self.plans.ReportProgress, ps.ReportProgressRequest(
                    parent=assignment, status=2, percent=10, narrative="推进中", request_id=rid)),
                ("plans ListProgressReports", works, self.plans.ListProgressReports,
                 ps.ListProgressReportsRequest(parent=assignment)),
                ("plans GetEvidence", works, self.plans.GetEvidence,
                 ps.GetEvidenceRequest(assignment=assignment, sha256="0" * 64)),
                ("plans ReassignAssignment", issuer_manages, self.plans.ReassignAssignment,
                 ps.ReassignAssignmentRequest(name=assignment, unit=f"units/{sibling}", reason="演练", etag=stale,
                                              request_id=rid)),
            ]
        # A request id of its own for each call: one reused for another request is refused first.
        return [(method, allowed, call, self.with_request_id(request, f"{rid}-{index}"))
                for index, (method, allowed, call, request) in enumerate(calls)]

    @staticmethod
    def with_request_id(request, request_id):
        if "request_id" in request.DESCRIPTOR.fields_by_name:
            request.request_id = request_id
        return request

    def watch_allowed(self, stub, metadata):
        try:
            for _ in stub.WatchEvents(self.ps.WatchEventsRequest(after_sequence=1 << 60), metadata=metadata,
                                      timeout=0.3):
                break
            return "OK"
        except self.grpc.RpcError as error:
            return error.code().name

    def authorisation_oracle(self):
        """Every caller × every unit of the tree × every RPC: refused (PERMISSION_DENIED) exactly
        when the rules say so."""
        self.task_of = {plan: self.plans.ListTasks(self.ps.ListTasksRequest(parent=plan),
                                                   metadata=self.admin()).tasks[0].name
                        for plan in self.plan_of.values()}
        work, mismatches, methods, codes = [], [], set(), {}
        for caller_index, caller in enumerate(self.CALLERS):
            metadata = self.token(caller[0], caller[1], subject=f"oracle-{caller_index}")
            for target_index, target in enumerate(self.tree):
                for method, allowed, call, request in self.oracle_calls(caller, target,
                                                                        caller_index * 1000 + target_index):
                    work.append((caller, target, method, allowed, call, request, metadata))
            for service, stub in (("units", self.units_stub(self.channel)), ("plans", self.plans_stub(self.channel))):
                work.append((caller, "-", f"{service} WatchEvents", True, None, stub, metadata))

        def run(item):
            caller, target, method, allowed, call, request, metadata = item
            if call is None:
                return caller, target, method, allowed, self.watch_allowed(request, metadata), None
            try:
                call(request, metadata=metadata, timeout=30)
                return caller, target, method, allowed, "OK", None
            except self.grpc.RpcError as error:
                return caller, target, method, allowed, error.code().name, error.details()

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            for caller, target, method, allowed, code, detail in pool.map(run, work):
                methods.add(method.split("(")[0])
                codes[code] = codes.get(code, 0) + 1
                refused = code in ("PERMISSION_DENIED", "UNAUTHENTICATED")
                if refused == allowed or code in ("INTERNAL", "UNKNOWN"):
                    mismatches.append((caller, target, method, allowed, code, detail))
        for mismatch in mismatches[:20]:
            print("        mismatch:", mismatch)
        self.row("authorisation oracle", f"{len(self.tree)}-unit tree × {len(self.CALLERS)} callers × "
                 f"{len(methods)} RPCs = {len(work)} calls → "
                 + ", ".join(f"{count} {code}" for code, count in sorted(codes.items()))
                 + f"; {len(mismatches)} mismatches", not mismatches)

    def insecure_direct_object_references(self, attempts):
        """A unit's staff reaching for other units' objects, existing or not: every attempt
        refused the same way, and every refusal audited."""
        own = "rl-c2-d1"
        subject = f"idor-{random.randrange(10**6)}"
        metadata = self.token("unit_staff", own, subject=subject)
        others = [unit for unit in self.tree if unit != own]
        attempts_made, codes = 0, {}
        for index in range(attempts):
            other = random.choice(others)
            kind = index % 9
            # Every kind of attempt, a quarter of the time on an object that does not exist.
            missing = index // 9 % 4 == 0
            unit = f"units/{'nope-' + str(index) if missing else other}"
            assignment = (f"{self.plan_of['rl-c3']}/tasks/t-nope/assignments/a-nope-{index}" if missing
                          else self.assignment_of.get(other, self.assignment_of["rl-c3-d2"]))
            rid = f"{subject}-{index}"
            call, request = [
                (self.plans.ClaimAssignment, self.ps.ClaimAssignmentRequest(name=assignment, request_id=rid)),
                (self.plans.ReportProgress, self.ps.ReportProgressRequest(parent=assignment, status=2, percent=5,
                                                                         request_id=rid)),
                (self.plans.ListProgressReports, self.ps.ListProgressReportsRequest(parent=assignment)),
                (self.plans.GetEvidence, self.ps.GetEvidenceRequest(assignment=assignment, sha256="0" * 64)),
                (self.plans.ListAssignments, self.ps.ListAssignmentsRequest(unit=unit)),
                (self.plans.ListOverdueAssignments, self.ps.ListOverdueAssignmentsRequest(unit=unit)),
                (self.units.DeleteUnit, self.us.DeleteUnitRequest(name=unit, request_id=rid)),
                (self.units.CreateUnit, self.us.CreateUnitRequest(request_id=rid, unit=self.u.Unit(
                    display_name=f"越权{index}", parent=unit, kind=self.u.UNIT_KIND_OTHER,
                    level=self.u.ADMINISTRATIVE_LEVEL_COUNTY))),
                (self.plans.ReassignAssignment, self.ps.ReassignAssignmentRequest(
                    name=assignment, unit=f"units/{own}", reason="越权", request_id=rid)),
            ][kind]
            code, _ = self.outcome(call, request, metadata)
            codes[code] = codes.get(code, 0) + 1
            attempts_made += 1
        audited = sum(int(self.cluster.scalar(
            f"SELECT count(*) FROM {schema}.audit_log WHERE subject = '{subject}' AND result = 'PERMISSION_DENIED'"))
            for schema in ("units", "plans"))
        self.row("IDOR attempts", f"{attempts_made} attempts on other units' objects (¼ of them missing) → "
                 + ", ".join(f"{count} {code}" for code, count in sorted(codes.items()))
                 + f"; {audited} refusals audited",
                 codes.get("PERMISSION_DENIED", 0) == attempts_made and audited == attempts_made)


    # -- the audit and the backups ----------------------------------------------------------
    def fazhi(self, database, *arguments):
        env = dict(os.environ, FAZHI__DATABASE__URL=self.cluster.url(database), FAZHI__DATABASE__AUDIT_KEY=AUDIT_KEY,
                   FAZHI__AUTH__HS256_SECRET="matrix-cli-secret-0123456789abcdef")
        return subprocess.run([self.binary, *arguments], env=env, capture_output=True, text=True)

    def copy_database(self, name):
        """A `pg_dump` of the live database restored into `name`, as a backup would be."""
        self.cluster.psql(f"DROP DATABASE IF EXISTS {name}", database="postgres")
        self.cluster.psql(f"CREATE DATABASE {name}", database="postgres")
        dump = subprocess.run([os.path.join(self.cluster.bin, "pg_dump"), "-Fc", self.cluster.url()],
                              capture_output=True, check=True).stdout
        restored = subprocess.run([os.path.join(self.cluster.bin, "pg_restore"), "--exit-on-error", "-d",
                                   self.cluster.url(name)], input=dump, capture_output=True)
        if restored.returncode:
            raise RuntimeError(f"pg_restore: {restored.stderr.decode()[:2000]}")
        return len(dump)

    def audit_chain(self):
        """`fazhi audit verify` over everything the matrix did; on a copy with one row altered it
        names that row and fails."""
        rows = int(self.cluster.scalar("SELECT count(*) FROM units.audit_log")) + int(
            self.cluster.scalar("SELECT count(*) FROM plans.audit_log"))
        verified = self.fazhi("fazhi", "audit", "verify")
        self.copy_database("fazhi_tampered")
        row = self.cluster.scalar("SELECT id FROM units.audit_log ORDER BY id OFFSET (SELECT count(*) / 2 FROM "
                                  "units.audit_log) LIMIT 1", database="fazhi_tampered")
        self.cluster.psql("ALTER TABLE units.audit_log DISABLE TRIGGER audit_log_append_only; "
                          f"UPDATE units.audit_log SET subject = subject || '-forged' WHERE id = {row}", database="fazhi_tampered")
        tampered = self.fazhi("fazhi_tampered", "audit", "verify", "--schema", "units")
        named = f"row {row}" in tampered.stdout + tampered.stderr
        self.row("audit chain", f"{rows} rows: verify {'intact' if verified.returncode == 0 else 'FAILED'}; "
                 f"a copy with row {row} altered: exit {tampered.returncode}, "
                 f"{'names the row' if named else 'does not name it'}",
                 verified.returncode == 0 and tampered.returncode != 0 and named)
        if verified.returncode:
            print(verified.stdout, verified.stderr)

    def dump_and_restore(self):
        """`pg_dump`/`pg_restore` into a new database; the system starts on it and serves what
        was written, its audit chain intact."""
        size = self.copy_database("fazhi_restored")
        counts = "SELECT (SELECT count(*) FROM units.units) || '/' || (SELECT count(*) FROM plans.assignments)"
        before, after = self.cluster.scalar(counts), self.cluster.scalar(counts, database="fazhi_restored")
        restored = Server(self.binary, self.cluster, database="fazhi_restored")
        try:
            restored.start()
            channel = self.open_channel(restored.port)
            unit = self.units_stub(channel).GetUnit(self.us.GetUnitRequest(name="units/rl-c3-d4"),
                                                   metadata=self.admin()).unit
            assignments = self.plans_stub(channel).ListAssignments(
                self.ps.ListAssignmentsRequest(plan=self.plan_of["rl-c3"]), metadata=self.admin()).assignments
            channel.close()
        finally:
            restored.stop()
        verified = self.fazhi("fazhi_restored", "audit", "verify")
        self.row("pg_dump / restore", f"{size / 1e6:.1f} MB dump; units/assignments {before} → {after}; the system "
                 f"started on the copy and served {unit.display_name} and {len(assignments)} assignments; "
                 f"audit verify {'intact' if verified.returncode == 0 else 'FAILED'}",
                 before == after and unit.display_name == "丙县教育局" and len(assignments) == 9
                 and verified.returncode == 0)


def main():
    e2e.ensure_environment()
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    os.makedirs(WORK, exist_ok=True)
    matrix = Matrix(os.path.abspath(sys.argv[1]))
    rounds, clients, seconds = (1, 8, 8) if QUICK else (3, 16, 40)
    started = time.time()
    try:
        matrix.build_tree()
        scenarios = [
            ("crash", lambda: matrix.writes_under_faults("Postgres crashed", matrix.crash_postgres, rounds, clients,
                                                         seconds)),
            ("kill", lambda: matrix.writes_under_faults("service killed", matrix.kill_server, rounds, clients,
                                                        seconds)),
            ("duplicates", lambda: matrix.duplicate_retries(*((100, 25) if QUICK else (400, 50)))),
            ("etags", lambda: matrix.etag_conflicts(*((8, 20) if QUICK else (32, 100)))),
            ("pool", lambda: matrix.pool_exhaustion(200 if QUICK else 1000)),
            ("deadlines", lambda: matrix.client_deadlines(20 if QUICK else 100)),
            ("cancellation", lambda: matrix.cancellation(6 if QUICK else 30)),
            ("malformed", lambda: matrix.malformed(400 if QUICK else 4000)),
            ("injection", matrix.injection),
            ("oracle", matrix.authorisation_oracle),
            ("idor", lambda: matrix.insecure_direct_object_references(200 if QUICK else 1000)),
            ("audit", matrix.audit_chain),
            ("restore", matrix.dump_and_restore),
        ]
        # MATRIX_ONLY=oracle,idor runs some of them (the tree is always built).
        only = set(filter(None, os.environ.get("MATRIX_ONLY", "").split(",")))
        for name, scenario in scenarios:
            if not only or name in only:
                scenario()
    finally:
        matrix.server.stop()
        matrix.cluster.stop()
    print(f"\nfault matrix ({'quick' if QUICK else 'full'}, {time.time() - started:.0f} s):\n")
    print(matrix.table())
    sys.exit(0 if all(ok for _, _, ok in matrix.rows) else 1)


if __name__ == "__main__":
    main()
