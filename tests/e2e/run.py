#!/usr/bin/env python3
"""End-to-end: start `fazhi dev` (throwaway Postgres, demo data) and drive it with grpcio, an
independent gRPC implementation, using stubs generated from proto/ and only the tokens the dev
banner prints. Usage: run.py PATH_TO_FAZHI_BINARY"""

import collections
import datetime
import hashlib
import io
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import venv

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
WORK = os.path.join(ROOT, "target", "e2e")
PACKAGES = ["grpcio==1.*", "grpcio-tools==1.*", "grpcio-health-checking==1.*",
            "grpcio-reflection==1.*", "grpcio-status==1.*", "openpyxl==3.*", "schemathesis==4.*",
            "nats-py==2.*"]
# The NATS server (JetStream) fazhi dev relays its events to: scripts/test's, else the local one.
NATS_URL = os.environ.get("FAZHI_TEST_NATS_URL", "nats://127.0.0.1:4222")


def ensure_environment():
    """A venv with grpcio and stubs generated from proto/; re-executes inside it."""
    env_dir = os.path.join(WORK, "venv")
    python = os.path.join(env_dir, "bin", "python")
    if sys.prefix != env_dir:
        stamp = os.path.join(env_dir, "packages.txt")
        wanted = "\n".join(PACKAGES)
        if not os.path.exists(stamp) or open(stamp, encoding="utf-8").read() != wanted:
            venv.create(env_dir, with_pip=True)
            subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *PACKAGES], check=True)
            with open(stamp, "w", encoding="utf-8") as file:
                file.write(wanted)
        os.execv(python, [python, *sys.argv])
    generated = os.path.join(WORK, "generated")
    os.makedirs(generated, exist_ok=True)
    from grpc_tools import protoc  # noqa: PLC0415 (only inside the venv)
    import grpc_tools
    include = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    protos = ["fazhi/audit/v1/audit.proto", "fazhi/units/v1/units.proto", "fazhi/units/v1/units_service.proto",
              "fazhi/plans/v1/plans.proto", "fazhi/plans/v1/plans_service.proto",
              "fazhi/indicators/v1/indicators.proto", "fazhi/indicators/v1/indicators_service.proto",
              "fazhi/assessment/v1/assessment.proto", "fazhi/assessment/v1/assessment_service.proto"]
    status = protoc.main(["protoc", f"-I{ROOT}/proto", f"-I{include}", f"--python_out={generated}",
                          f"--grpc_python_out={generated}", *protos])
    if status != 0:
        raise SystemExit("protoc failed")
    sys.path.insert(0, generated)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def dev_command(binary, port, data_dir="pgdata"):
    env = dict(os.environ, FAZHI__SERVER__LISTEN_ADDRESS=f"127.0.0.1:{port}", NO_COLOR="1",
               FAZHI__EVENTS__NATS_URL=NATS_URL)
    env.pop("FAZHI__DATABASE__URL", None)
    return [binary, "dev", "--data-dir", os.path.join(WORK, data_dir)], env


def start_dev(binary, port):
    command, env = dev_command(binary, port)
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    banner = []
    deadline = time.time() + 120
    for line in process.stdout:
        banner.append(line)
        if "unit staff of" in line or time.time() > deadline:
            break
    text = "".join(banner)
    tokens = dict(re.findall(r"^\s+(admin|coordinator|unit staff)\S*[^\n]*?\s(ey[\w.-]+)\s*$", text, re.M))
    if len(tokens) != 3:
        process.kill()
        raise SystemExit("fazhi dev did not start:\n" + text)
    ready = re.search(r"ready in ([\d.]+) s", text)
    print(f"fazhi dev ready in {ready.group(1) if ready else '?'} s on port {port}")
    process.banner = text
    # Keep reading its log: a full pipe would block the server on its next log line (a fuzzer's
    # thousands of refusals fill one in seconds). The last lines are kept for failures.
    process.log = collections.deque(maxlen=2000)
    threading.Thread(target=lambda: process.log.extend(process.stdout), daemon=True).start()
    return process, tokens


def stop(process):
    """Ctrl-C, as a developer stops it; the seconds it took, or None if it had to be killed."""
    started = time.time()
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=30)
        return time.time() - started
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return None


def main():
    ensure_environment()
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
    from grpc_status import rpc_status
    from google.rpc import error_details_pb2
    from fazhi.units.v1 import units_pb2, units_service_pb2, units_service_pb2_grpc
    from fazhi.plans.v1 import plans_pb2, plans_service_pb2, plans_service_pb2_grpc
    from fazhi.indicators.v1 import indicators_pb2, indicators_service_pb2, indicators_service_pb2_grpc
    from fazhi.assessment.v1 import assessment_pb2, assessment_service_pb2, assessment_service_pb2_grpc

    binary = sys.argv[1]
    port = free_port()
    process, tokens = start_dev(binary, port)
    results = []

    def check(name, function):
        try:
            function()
            results.append((name, None))
            print(f"  ok    {name}")
        except Exception as error:  # noqa: BLE001 (report every failure)
            results.append((name, error))
            print(f"  FAIL  {name}: {error!r}")

    def auth(role):
        return [("authorization", f"Bearer {tokens[role]}")]

    try:
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        grpc.channel_ready_future(channel).result(timeout=30)
        units = units_service_pb2_grpc.UnitsServiceStub(channel)

        def health():
            response = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service="fazhi.units.v1.UnitsService"))
            assert response.status == health_pb2.HealthCheckResponse.SERVING, response

        def reflection():
            stub = reflection_pb2_grpc.ServerReflectionStub(channel)
            responses = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
            names = [service.name for service in next(responses).list_services_response.service]
            assert "fazhi.units.v1.UnitsService" in names, names

        def get_with_token():
            unit = units.GetUnit(units_service_pb2.GetUnitRequest(name="units/ningguo"),
                                 metadata=auth("coordinator")).unit
            assert unit.display_name == "宁国市人民政府" and unit.region_code == "341881", unit

        def no_token():
            try:
                units.GetUnit(units_service_pb2.GetUnitRequest(name="units/ningguo"))
            except grpc.RpcError as error:
                assert error.code() == grpc.StatusCode.UNAUTHENTICATED, error
                return
            raise AssertionError("answered without a token")

        def resolve():
            response = units.ResolveUnitMentions(units_service_pb2.ResolveUnitMentionsRequest(
                context_unit="units/ningguo", mentions=["市司法局", "各乡镇、街道", "市委编办"]),
                metadata=auth("unit staff"))
            targets = [r.unit or r.unit_group for r in response.resolutions]
            assert targets == ["units/ng-sfj", "unitGroups/townships", "units/ng-bb"], targets

        def invalid_argument_details():
            try:
                units.CreateUnit(units_service_pb2.CreateUnitRequest(
                    unit_id="ng-new", unit=units_pb2.Unit(parent="units/ningguo")), metadata=auth("coordinator"))
            except grpc.RpcError as error:
                assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error
                status = rpc_status.from_call(error)
                fields, reason, chinese = [], None, None
                for detail in status.details:
                    if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                        bad = error_details_pb2.BadRequest()
                        detail.Unpack(bad)
                        fields = [violation.field for violation in bad.field_violations]
                    elif detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                        info = error_details_pb2.ErrorInfo()
                        detail.Unpack(info)
                        reason = info.reason
                    elif detail.Is(error_details_pb2.LocalizedMessage.DESCRIPTOR):
                        message = error_details_pb2.LocalizedMessage()
                        detail.Unpack(message)
                        chinese = message.message
                assert reason == "INVALID_ARGUMENT", reason
                assert fields == ["unit.display_name", "unit.kind", "unit.level"], fields
                assert chinese and "必填" in chinese, chinese
                return
            raise AssertionError("accepted an empty unit")

        def staff_cannot_touch_other_units():
            try:
                units.CreateUnit(units_service_pb2.CreateUnitRequest(unit_id="tl-new", unit=units_pb2.Unit(
                    display_name="通辽市某局", parent="units/tongliao",
                    kind=units_pb2.UNIT_KIND_GOVERNMENT_DEPARTMENT, level=units_pb2.ADMINISTRATIVE_LEVEL_CITY)),
                    metadata=auth("unit staff"))
            except grpc.RpcError as error:
                assert error.code() == grpc.StatusCode.PERMISSION_DENIED, error
                return
            raise AssertionError("unit staff created a unit elsewhere")

        def coordinator_creates_below_own_unit():
            request = units_service_pb2.CreateUnitRequest(unit_id="ng-tjj", request_id="e2e-create-1", unit=units_pb2.Unit(
                display_name="宁国市统计局", parent="units/ningguo",
                kind=units_pb2.UNIT_KIND_GOVERNMENT_DEPARTMENT, level=units_pb2.ADMINISTRATIVE_LEVEL_COUNTY))
            first = units.CreateUnit(request, metadata=auth("coordinator")).unit
            again = units.CreateUnit(request, metadata=auth("coordinator")).unit
            assert first == again and first.name == "units/ng-tjj", (first, again)

        def demo_plans():
            plans = plans_service_pb2_grpc.PlansServiceStub(channel)
            deadline = time.time() + 30
            listed = []
            while time.time() < deadline:
                listed = [plan for plan in plans.ListPlans(plans_service_pb2.ListPlansRequest(),
                                                            metadata=auth("unit staff")).plans
                          if plan.state == plans_pb2.PLAN_STATE_PUBLISHED]
                if len(listed) == 3:
                    break
                time.sleep(0.5)
            by_issuer = {plan.issuer: plan for plan in listed}
            assert set(by_issuer) == {"units/ningguo", "units/tongliao", "units/xuchang"}, by_issuer.keys()
            ningguo = by_issuer["units/ningguo"]
            assert ningguo.state == plans_pb2.PLAN_STATE_PUBLISHED and ningguo.task_count == 37, ningguo
            report = ningguo.import_report
            assert report.resolved_mention_count == report.mention_count > 0, report
            tasks = plans.ListTasks(plans_service_pb2.ListTasksRequest(parent=ningguo.name, page_size=100),
                                    metadata=auth("unit staff")).tasks
            assert [task.number for task in tasks] == [str(n) for n in range(1, 38)]
            lead = [m.unit for m in tasks[0].mentions if m.role == plans_pb2.ASSIGNMENT_ROLE_LEAD]
            assert lead == ["units/ng-sfj"], lead
            own = plans.ListAssignments(plans_service_pb2.ListAssignmentsRequest(unit="units/ng-sfj", page_size=1000),
                                        metadata=auth("unit staff")).assignments
            assert own and all(a.unit == "units/ng-sfj" for a in own), own[:3]
            assert any(a.task_number == "1" and a.role == plans_pb2.ASSIGNMENT_ROLE_LEAD for a in own)

        plans = plans_service_pb2_grpc.PlansServiceStub(channel)

        def published(issuer):
            listed = plans.ListPlans(plans_service_pb2.ListPlansRequest(issuer=issuer), metadata=auth("admin")).plans
            return next(plan for plan in listed if plan.state == plans_pb2.PLAN_STATE_PUBLISHED)

        def claim_and_report_with_a_file():
            own = plans.ListAssignments(plans_service_pb2.ListAssignmentsRequest(unit="units/ng-sfj", page_size=1000),
                                        metadata=auth("unit staff")).assignments
            lead = next(a for a in own if a.task_number == "1" and a.role == plans_pb2.ASSIGNMENT_ROLE_LEAD)
            due = lead.due_date or "2024-12-31"
            plans.ClaimAssignment(plans_service_pb2.ClaimAssignmentRequest(name=lead.name, work_plan=plans_pb2.WorkPlan(
                leader_in_charge="王副局长", person_responsible="李科长", measures="梳理清单", due_date=due)),
                metadata=auth("unit staff"))
            pdf = b"%PDF-1.4\n% e2e evidence\n%%EOF\n"
            response = plans.ReportProgress(plans_service_pb2.ReportProgressRequest(
                parent=lead.name, status=plans_pb2.PROGRESS_STATUS_IN_PROGRESS, percent=60, narrative="已完成初稿",
                evidence=[plans_pb2.EvidenceUpload(file_name="初稿.pdf", content=pdf)]), metadata=auth("unit staff"))
            evidence = response.progress_report.evidence[0]
            assert evidence.sha256 == hashlib.sha256(pdf).hexdigest(), evidence
            assert response.assignment.progress_percent == 60, response.assignment
            fetched = plans.GetEvidence(plans_service_pb2.GetEvidenceRequest(assignment=lead.name, sha256=evidence.sha256),
                                        metadata=auth("coordinator"))
            assert fetched.content == pdf and fetched.evidence.content_type == "application/pdf", fetched.evidence

        def overdue_days():
            as_of = datetime.date(2030, 1, 1)
            overdue = plans.ListOverdueAssignments(plans_service_pb2.ListOverdueAssignmentsRequest(
                as_of=as_of.isoformat(), unit="units/ng-sfj", page_size=1000), metadata=auth("unit staff"))
            assert overdue.overdue_assignments, "nothing overdue by 2030"
            for item in overdue.overdue_assignments:
                due = datetime.date.fromisoformat(item.assignment.due_date)
                assert item.days_overdue == (as_of - due).days, item

        def export_reads_back():
            import openpyxl  # noqa: PLC0415 (only inside the venv)
            plan = published("units/tongliao")
            exported = plans.ExportPlan(plans_service_pb2.ExportPlanRequest(
                name=plan.name, table=plans_pb2.EXPORT_TABLE_TASK_BREAKDOWN), metadata=auth("unit staff"))
            sheet = openpyxl.load_workbook(io.BytesIO(exported.content)).active
            rows = list(sheet.iter_rows(values_only=True))
            assert list(rows[1]) == ["序号", "重点工作任务", "牵头单位", "责任单位", "完成时限"], rows[1]
            assert len(rows) == 2 + plan.task_count and rows[2][0] == "1", len(rows)
            progress = plans.ExportPlan(plans_service_pb2.ExportPlanRequest(
                name=published("units/ningguo").name, table=plans_pb2.EXPORT_TABLE_PROGRESS), metadata=auth("coordinator"))
            rows = list(openpyxl.load_workbook(io.BytesIO(progress.content)).active.iter_rows(values_only=True))
            assert any(row[2] == "宁国市司法局" and row[6] == 60 for row in rows[2:]), rows[:4]

        def coverage_of_the_cascaded_plan():
            deadline = time.time() + 30
            children = []
            while not children and time.time() < deadline:
                children = [plan for plan in plans.ListPlans(plans_service_pb2.ListPlansRequest(
                    issuer="units/tl-keqq"), metadata=auth("admin")).plans if plan.parent_plan]
                time.sleep(0.2)
            report = plans.GetCoverageReport(plans_service_pb2.GetCoverageReportRequest(plan=children[0].name),
                                             metadata=auth("admin")).coverage_report
            assert len(report.covered) == report.parent_task_count == 45 and not report.missed, report

        indicators = indicators_service_pb2_grpc.IndicatorsServiceStub(channel)

        def report_review_and_evaluate_a_region():
            deadline = time.time() + 60
            while time.time() < deadline:
                targets = indicators.ListTargets(indicators_service_pb2.ListTargetsRequest(owner_unit="units/ningguo"),
                                                 metadata=auth("coordinator")).targets
                if len(targets) == 9:
                    break
                time.sleep(0.5)
            try:
                indicators.ReportDataValue(indicators_service_pb2.ReportDataValueRequest(
                    data_element="dataElements/study-sessions", unit="units/ng-sfj", period="2025", value=1),
                    metadata=auth("unit staff"))
                raise AssertionError("a yearly period for a quarterly element was accepted")
            except grpc.RpcError as error:
                assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error
                details = rpc_status.from_call(error).details
                bad = error_details_pb2.BadRequest()
                assert any(detail.Unpack(bad) for detail in details)
                assert [(v.field, v.reason) for v in bad.field_violations] == [("period", "WRONG_PERIOD_TYPE")], bad

            def report(value, request_id):
                return indicators.ReportDataValue(indicators_service_pb2.ReportDataValueRequest(
                    data_element="dataElements/study-sessions", unit="units/ng-sfj", period="2025Q2", value=value,
                    request_id=request_id), metadata=auth("unit staff")).data_value

            first = report(2, "e2e-report-1")
            assert report(2, "e2e-report-1") == first, "a retry answers as the first call"
            submitted = indicators.SubmitDataValue(indicators_service_pb2.SubmitDataValueRequest(
                name=first.name, etag=first.etag), metadata=auth("unit staff")).data_value
            returned = indicators.ReturnDataValue(indicators_service_pb2.ReturnDataValueRequest(
                name=submitted.name, etag=submitted.etag, reason="请附会议记录"), metadata=auth("coordinator")).data_value
            assert returned.state == indicators_pb2.DATA_VALUE_STATE_RETURNED and returned.reason == "请附会议记录"
            corrected = report(3, "e2e-report-2")
            submitted = indicators.SubmitDataValue(indicators_service_pb2.SubmitDataValueRequest(
                name=corrected.name, etag=corrected.etag), metadata=auth("unit staff")).data_value
            approved = indicators.ApproveDataValue(indicators_service_pb2.ApproveDataValueRequest(
                name=submitted.name, etag=submitted.etag), metadata=auth("coordinator")).data_value
            assert approved.state == indicators_pb2.DATA_VALUE_STATE_APPROVED and approved.value == 3
            evaluation = indicators.EvaluateTarget(indicators_service_pb2.EvaluateTargetRequest(
                target="targets/ng-study-4", unit="units/ningguo", period="2025", include_descendants=True),
                metadata=auth("coordinator")).evaluation
            assert evaluation.status == indicators_pb2.TARGET_STATUS_NOT_MET and evaluation.value == 3, evaluation
            assert "目标 ≥ 4次" in evaluation.explanation, evaluation.explanation
            # The demo's values go in after its targets: wait for them, not for a fixed time.
            wanted = {indicators_pb2.TARGET_STATUS_MET, indicators_pb2.TARGET_STATUS_NOT_MET}
            deadline = time.time() + 60
            while True:
                statuses = {indicators.EvaluateTarget(indicators_service_pb2.EvaluateTargetRequest(
                    target=target.name, unit="units/ningguo", period="2024", include_descendants=True),
                    metadata=auth("coordinator")).evaluation.status for target in targets}
                if wanted <= statuses or time.time() > deadline:
                    break
                time.sleep(0.5)
            assert wanted <= statuses, statuses

        def submit_a_return_and_chase_the_rest():
            def report(element, value):
                indicators.ReportDataValue(indicators_service_pb2.ReportDataValueRequest(
                    data_element=f"dataElements/{element}", unit="units/ng-sfj", period="2026", value=value),
                    metadata=auth("unit staff"))

            def submit():
                return indicators.SubmitReturn(indicators_service_pb2.SubmitReturnRequest(
                    data_set="dataSets/litigation", unit="units/ng-sfj", period="2026"),
                    metadata=auth("unit staff"))

            report("lawsuits", 2)
            report("concluded-lawsuits", 3)
            report("lost-lawsuits", 0)
            try:
                submit()
                raise AssertionError("3 concluded of 2 lawsuits was accepted")
            except grpc.RpcError as error:
                assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error
                bad = error_details_pb2.BadRequest()
                assert any(detail.Unpack(bad) for detail in rpc_status.from_call(error).details)
                assert [(v.field, v.reason) for v in bad.field_violations] == [
                    ("dataSets/litigation.validation_rules[0]", "VALIDATION_RULE_FAILED")], bad
                assert "审结数不超过案件数" in bad.field_violations[0].localized_message.message, bad
            report("concluded-lawsuits", 2)
            values = submit().data_values
            assert [value.state for value in values] == [indicators_pb2.DATA_VALUE_STATE_SUBMITTED] * 3, values
            listed = indicators.ListReturns(indicators_service_pb2.ListReturnsRequest(
                data_set="dataSets/litigation", unit="units/ningguo", period="2026"), metadata=auth("coordinator"))
            assert listed.due_date == "2027-01-15" and listed.on_time_count == 1, listed
            chased = indicators.ListReturns(indicators_service_pb2.ListReturnsRequest(
                data_set="dataSets/litigation", unit="units/ningguo", period="2026", outstanding_only=True),
                metadata=auth("coordinator")).returns
            assert len(chased) == listed.expected_count - 1, chased
            assert "units/ng-sfj" not in [found.unit for found in chased], chased

        def fill_in_a_data_entry_form():
            import openpyxl
            path = os.path.join(WORK, "form.xlsx")
            env = dict(os.environ, FAZHI_ENDPOINT=f"http://127.0.0.1:{port}", FAZHI_TOKEN=tokens["unit staff"])
            made = subprocess.run([binary, "indicators", "form", "court-appearances", "ng-sfj", "2026", "-o", path],
                                  env=env, capture_output=True, text=True, timeout=60)
            assert made.returncode == 0, made
            workbook = openpyxl.load_workbook(path)
            sheet = workbook["填报表"]
            assert sheet["A1"].value == "行政机关负责人出庭应诉情况(2026)", sheet["A1"].value
            filled = {("hearings", ""): 6, ("appearances", ""): 4, ("appearances", "涉及重大公共利益"): 1}
            for row in sheet.iter_rows(min_row=4):
                key = (row[7].value, row[8].value or "")
                if key in filled:
                    row[4].value = filled[key]
            workbook.save(path)
            command = [binary, "indicators", "ingest", path]
            first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
            assert first.returncode == 0 and "3 accepted, 0 unchanged, 0 rejected" in first.stdout, first
            again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
            assert "0 accepted, 3 unchanged, 0 rejected" in again.stdout, again
            values = indicators.ListDataValues(indicators_service_pb2.ListDataValuesRequest(
                unit="units/ng-sfj", period="2026"), metadata=auth("unit staff")).data_values
            found = {(value.data_element, value.category_option): value.value for value in values}
            assert found[("dataElements/hearings", "")] == 6 and found[("dataElements/appearances", "")] == 4, found

        def ingest_a_csv_file_twice():
            path = os.path.join(WORK, "court.csv")
            with open(path, "w", encoding="utf-8") as file:
                file.write("external_id,data_element,unit,period,category_option,value,comment\n"
                           "court-2025-1,hearings,ng-gaj,2025,,7,法院推送\n"
                           "court-2025-2,hearings,ng-gaj,2025-01,,7,\n")
            env = dict(os.environ, FAZHI_ENDPOINT=f"http://127.0.0.1:{port}", FAZHI_TOKEN=tokens["coordinator"])
            command = [binary, "indicators", "ingest", path, "--source", "court-case-system"]
            first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
            assert first.returncode == 1, first
            assert "1 accepted, 0 unchanged, 1 rejected" in first.stdout, first.stdout
            assert "line 3 (court-2025-2): period WRONG_PERIOD_TYPE" in first.stderr, first.stderr
            again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
            assert "0 accepted, 1 unchanged, 1 rejected" in again.stdout, again.stdout
            values = indicators.ListDataValues(indicators_service_pb2.ListDataValuesRequest(
                unit="units/ng-gaj", period="2025"), metadata=auth("coordinator")).data_values
            assert [(value.value, value.comment) for value in values] == [(7.0, "法院推送")], values

        def a_published_plan_proposes_its_targets():
            ningguo = published("units/ningguo")
            deadline = time.time() + 30
            suggested = []
            while time.time() < deadline:
                proposals = indicators.ListProposedTargets(indicators_service_pb2.ListProposedTargetsRequest(
                    plan=ningguo.name, page_size=100), metadata=auth("coordinator")).proposed_targets
                suggested = [p for p in proposals if p.suggested_targets]
                if len(proposals) == 19 and len(suggested) >= 3:
                    break
                time.sleep(0.5)
            assert len(suggested) >= 3, [(p.text, p.unmatched_reason) for p in proposals]
            appearance = next(p for p in suggested if "出庭应诉率100%" in p.text)
            accepted = indicators.AcceptProposedTarget(indicators_service_pb2.AcceptProposedTargetRequest(
                name=appearance.name, etag=appearance.etag, request_id="e2e-accept-1"),
                metadata=auth("coordinator")).proposed_target
            again = indicators.AcceptProposedTarget(indicators_service_pb2.AcceptProposedTargetRequest(
                name=appearance.name, etag=appearance.etag, request_id="e2e-accept-1"),
                metadata=auth("coordinator")).proposed_target
            assert accepted == again and accepted.state == indicators_pb2.PROPOSAL_STATE_ACCEPTED, accepted
            target = indicators.GetTarget(indicators_service_pb2.GetTargetRequest(name=accepted.targets[0]),
                                          metadata=auth("coordinator")).target
            assert target.owner_unit == "units/ningguo" and target.absolute.value == 100, target

        def a_round_is_run_and_a_units_trace_read():
            assessment = assessment_service_pb2_grpc.AssessmentServiceStub(channel)
            # The demo creates the scheme once the plans and values are in.
            deadline = time.time() + 60
            while True:
                try:
                    scheme = assessment.GetScheme(assessment_service_pb2.GetSchemeRequest(name="schemes/ng-2024"),
                                                  metadata=auth("coordinator")).scheme
                    break
                except grpc.RpcError as error:
                    if error.code() != grpc.StatusCode.NOT_FOUND or time.time() > deadline:
                        raise
                    time.sleep(0.5)
            assert scheme.owner_unit == "units/ningguo" and len(scheme.peer_groups) == 2, scheme
            request = assessment_service_pb2.RunRoundRequest(
                scheme=scheme.name, kind=assessment_pb2.ROUND_KIND_ANNUAL, period="2024", request_id="e2e-round-1")
            first = assessment.RunRound(request, metadata=auth("coordinator")).round
            again = assessment.RunRound(request, metadata=auth("coordinator")).round
            assert first == again and first.unit_count > 20, first
            scores = assessment.ListScores(assessment_service_pb2.ListScoresRequest(
                round=first.name, peer_group="departments"), metadata=auth("coordinator")).scores
            assert scores and scores[0].rank == 1, scores
            assert all(a.total >= b.total for a, b in zip(scores, scores[1:])), [s.total for s in scores]
            trace = assessment.ExplainScore(assessment_service_pb2.ExplainScoreRequest(
                round=first.name, unit="units/ng-gaj"), metadata=auth("coordinator"))
            lines = {line.criterion for line in trace.lines}
            assert {"1.1", "2.1", "3", "4"} <= lines, lines
            assert sum(c.score for c in trace.score.criteria if "." not in c.code) == trace.score.base, trace.score
            # 司法局's staff see their own result, and not 公安局's trace.
            own = assessment.ListScores(assessment_service_pb2.ListScoresRequest(round=first.name),
                                        metadata=auth("unit staff")).scores
            assert [score.unit for score in own] == ["units/ng-sfj"], own
            try:
                assessment.ExplainScore(assessment_service_pb2.ExplainScoreRequest(
                    round=first.name, unit="units/ng-gaj"), metadata=auth("unit staff"))
                raise AssertionError("another unit's trace was shown")
            except grpc.RpcError as error:
                assert error.code() == grpc.StatusCode.PERMISSION_DENIED, error

        def a_published_round_opens_an_item_closed_and_its_bulletin_fetched():
            assessment = assessment_service_pb2_grpc.AssessmentServiceStub(channel)
            rounds = assessment.ListRounds(assessment_service_pb2.ListRoundsRequest(scheme="schemes/ng-2024"),
                                           metadata=auth("coordinator")).rounds
            name = rounds[0].name
            published = assessment.PublishRound(assessment_service_pb2.PublishRoundRequest(
                name=name, request_id="e2e-publish-1"), metadata=auth("coordinator"))
            assert published.round.HasField("publish_time") and published.items_opened > 0, published
            # 司法局's own items, as its staff see them; one taken up, submitted, closed (销号).
            items = assessment.ListRectificationItems(assessment_service_pb2.ListRectificationItemsRequest(
                unit="units/ng-sfj", round=name), metadata=auth("unit staff")).items
            assert items and all(item.unit == "units/ng-sfj" for item in items), items
            item = assessment.TakeUpRectificationItem(assessment_service_pb2.TakeUpRectificationItemRequest(
                name=items[0].name, measures="建立台账,逐项整改", responsible_person="张某",
                etag=items[0].etag), metadata=auth("unit staff")).item
            item = assessment.SubmitRectificationItem(assessment_service_pb2.SubmitRectificationItemRequest(
                name=item.name, evidence_uris=["https://www.ningguo.gov.cn/zgbg.pdf"], etag=item.etag),
                metadata=auth("unit staff")).item
            item = assessment.CloseRectificationItem(assessment_service_pb2.CloseRectificationItemRequest(
                name=item.name, reason="整改到位", etag=item.etag), metadata=auth("coordinator")).item
            assert item.state == assessment_pb2.RECTIFICATION_STATE_CLOSED, item
            bulletin = assessment.GetBulletin(assessment_service_pb2.GetBulletinRequest(round=name),
                                              metadata=auth("coordinator")).bulletin
            assert [group.code for group in bulletin.groups] == ["departments", "townships"], bulletin.groups
            assert bulletin.ledger.closed == 1 and bulletin.ledger.open == published.items_opened - 1, bulletin.ledger
            assert bulletin.failed_targets, bulletin
            page = assessment.ExportBulletin(assessment_service_pb2.ExportBulletinRequest(
                round=name, format=assessment_service_pb2.BULLETIN_FORMAT_HTML), metadata=auth("coordinator"))
            assert page.content_type.startswith("text/html") and page.file_name.endswith("通报.html"), page.file_name
            assert "整改情况" in page.content.decode("utf-8"), page.content[:200]

        def gateway_answers_connect_json():
            import json
            import urllib.error
            import urllib.request
            found = re.search(r"HTTP gateway\s+(http://\S+)", process.banner)
            assert found, process.banner
            url = found.group(1) + "/fazhi.units.v1.UnitsService/GetUnit"

            def post(body, token):
                headers = {"content-type": "application/json"}
                if token:
                    headers["authorization"] = "Bearer " + token
                request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")
                try:
                    with urllib.request.urlopen(request, timeout=10) as answer:
                        return answer.status, json.loads(answer.read())
                except urllib.error.HTTPError as error:
                    return error.code, json.loads(error.read())

            status, answer = post({"name": "units/ningguo"}, tokens["unit staff"])
            assert status == 200 and answer["unit"]["displayName"] == "宁国市人民政府", (status, answer)
            status, answer = post({"name": "ningguo"}, tokens["unit staff"])
            assert status == 400 and answer["code"] == "invalid_argument", (status, answer)
            assert any(d["type"] == "google.rpc.LocalizedMessage" for d in answer["details"]), answer
            status, answer = post({"name": "units/ningguo"}, None)
            assert status == 401 and answer["code"] == "unauthenticated", (status, answer)

        def events_reach_nats_jetstream():
            # An independent NATS client reads the event of a unit created over gRPC from the
            # units stream, with its headers and the WatchEvents message as body.
            import asyncio
            import nats
            from nats.js.api import DeliverPolicy
            assert "relayed to the NATS of events.nats_url" in process.banner, process.banner

            async def receive():
                connection = await nats.connect(NATS_URL)
                try:
                    subscription = await connection.jetstream().subscribe(
                        "fazhi.units.unit.created", ordered_consumer=True, deliver_policy=DeliverPolicy.NEW)
                    created = units.CreateUnit(units_service_pb2.CreateUnitRequest(
                        unit_id="ng-nats", unit=units_pb2.Unit(
                            display_name="宁国市数据资源局", parent="units/ningguo",
                            kind=units_pb2.UNIT_KIND_GOVERNMENT_DEPARTMENT,
                            level=units_pb2.ADMINISTRATIVE_LEVEL_COUNTY)), metadata=auth("admin")).unit
                    deadline = time.time() + 20
                    while time.time() < deadline:
                        message = await subscription.next_msg(timeout=deadline - time.time())
                        if message.headers.get("Fazhi-Resource") == created.name:
                            return message
                    raise AssertionError("no event for " + created.name)
                finally:
                    await connection.close()

            message = asyncio.run(receive())
            event = units_pb2.UnitEvent.FromString(message.data)
            assert event.unit_created.unit.display_name == "宁国市数据资源局", event
            assert message.headers["Fazhi-Event-Type"] == "unit.created", message.headers
            assert message.headers["Nats-Msg-Id"] == (
                f"units:{message.headers['Fazhi-Outbox']}:{event.sequence}"), message.headers

        def official_connect_client_in_node():
            # clients/typescript: code generated by protoc-gen-es, the official Connect client.
            client = os.path.join(ROOT, "clients", "typescript")
            quiet = dict(stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for command in (["npm", "ci", "--no-audit", "--no-fund"], ["npm", "run", "generate"]):
                done = subprocess.run(command, cwd=client, timeout=600, **quiet)
                assert done.returncode == 0, done.stdout[-3000:]
            gateway = re.search(r"HTTP gateway\s+(http://\S+)", process.banner).group(1)
            env = dict(os.environ, FAZHI_GATEWAY=gateway, FAZHI_TOKEN_ADMIN=tokens["admin"],
                       FAZHI_TOKEN_COORDINATOR=tokens["coordinator"], FAZHI_TOKEN_UNIT_STAFF=tokens["unit staff"])
            done = subprocess.run(["npm", "test"], cwd=client, env=env, timeout=300, **quiet)
            assert done.returncode == 0, done.stdout[-6000:]
            print("        " + " ".join(line.strip() for line in done.stdout.splitlines()
                                       if re.match(r"^# (tests|pass|fail)", line)))

        def the_console_in_chromium():
            # console/: the web console served by the gateway, driven in Debian's Chromium by
            # Playwright (console/tests); its screenshots are kept in console/test-results.
            console = os.path.join(ROOT, "console")
            quiet = dict(stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            if not os.path.isdir(os.path.join(console, "node_modules")):
                done = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=console, timeout=600, **quiet)
                assert done.returncode == 0, done.stdout[-3000:]
            os.makedirs(os.path.join(console, "test-results", "screenshots"), exist_ok=True)
            gateway = re.search(r"HTTP gateway\s+(http://\S+)", process.banner).group(1)
            done = subprocess.run(["npx", "playwright", "test"], cwd=console,
                                  env=dict(os.environ, FAZHI_GATEWAY=gateway), timeout=600, **quiet)
            assert done.returncode == 0, done.stdout[-6000:]
            print("        " + " ".join(line.strip() for line in done.stdout.splitlines()
                                       if re.match(r"^\s*\d+ (passed|failed)", line)))

        def rest_walk_through():
            # The README's curl walk-through, as a program: REST routes from the annotations.
            import json
            import urllib.error
            import urllib.parse
            import urllib.request
            gateway = re.search(r"HTTP gateway\s+(http://\S+)", process.banner).group(1)

            def call(method, path, role, body=None, content_type="application/json"):
                headers = {"authorization": "Bearer " + tokens[role]}
                if body is not None:
                    headers["content-type"] = content_type
                request = urllib.request.Request(gateway + path, data=body, headers=headers, method=method)
                try:
                    with urllib.request.urlopen(request, timeout=30) as answer:
                        return answer.status, dict(answer.headers), answer.read()
                except urllib.error.HTTPError as error:
                    return error.code, dict(error.headers), error.read()

            status, _, body = call("GET", "/v1/units/ningguo", "unit staff")
            assert status == 200 and json.loads(body)["displayName"] == "宁国市人民政府", body
            status, _, body = call("GET", "/v1/units/nowhere", "unit staff")
            error = json.loads(body)["error"]
            assert status == 404 and error["status"] == "NOT_FOUND", body
            assert any(d.get("reason") == "UNIT_NOT_FOUND" for d in error["details"]), error
            status, _, body = call("GET", "/v1/plans?issuer=units/ningguo", "coordinator")
            plan = json.loads(body)["plans"][0]["name"]
            # A plan checked without saving it, as POST /v1/plans:import with validateOnly.
            text = ("宁国市2025年法治政府建设工作要点\n一、加强党的领导\n1. 深入学习贯彻习近平法治思想。"
                    "牵头单位：市司法局；责任单位：各乡镇、街道。完成时限：2025年12月底前。\n").encode()
            import base64
            status, _, body = call("POST", "/v1/plans:import", "coordinator", json.dumps(
                {"issuer": "units/ningguo", "content": base64.b64encode(text).decode(), "validateOnly": True}).encode())
            assert status == 200 and json.loads(body)["report"]["taskCount"] == 1, body
            # A download keeps its Chinese file name (RFC 5987).
            status, headers, body = call("GET", f"/v1/{plan}:export?table=EXPORT_TABLE_TASK_BREAKDOWN", "coordinator")
            assert status == 200 and body[:2] == b"PK", (status, body[:100])
            disposition = headers["content-disposition"]
            name = urllib.parse.unquote(disposition.split("filename*=UTF-8''")[1])
            assert name.endswith("重点工作任务分解表.xlsx"), disposition
            # Progress with evidence uploaded as multipart/form-data, then the file fetched back.
            status, _, body = call("GET", "/v1/assignments?unit=units/ng-sfj&pageSize=1000", "unit staff")
            lead = next(a for a in json.loads(body)["assignments"]
                        if a.get("taskNumber") == "1" and a.get("role") == "ASSIGNMENT_ROLE_LEAD")
            boundary = "fazhi-e2e-boundary"
            pdf = b"%PDF-1.4\n% uploaded through the gateway\n%%EOF\n"
            form = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"request\"\r\n"
                    "Content-Type: application/json\r\n\r\n").encode() + json.dumps(
                {"status": "PROGRESS_STATUS_IN_PROGRESS", "percent": 70, "narrative": "上传会议纪要"}).encode() + (
                f"\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"evidence\"; "
                "filename=\"会议纪要.pdf\"\r\nContent-Type: application/pdf\r\n\r\n").encode() + pdf + (
                f"\r\n--{boundary}--\r\n").encode()
            status, _, body = call("POST", f"/v1/{lead['name']}/progressReports", "unit staff", form,
                                   f"multipart/form-data; boundary={boundary}")
            assert status == 200, body
            evidence = json.loads(body)["progressReport"]["evidence"][0]
            assert evidence["sha256"] == hashlib.sha256(pdf).hexdigest(), evidence
            status, headers, body = call("GET", f"/v1/{lead['name']}/evidence/{evidence['sha256']}", "coordinator")
            assert status == 200 and body == pdf and headers["content-type"] == "application/pdf", headers
            assert "%E4%BC%9A%E8%AE%AE%E7%BA%AA%E8%A6%81.pdf" in headers["content-disposition"], headers

        def schemathesis_finds_no_server_error_in_the_rest_api():
            # The OpenAPI document the gateway serves, fuzzed against the running system with the
            # admin's token: no 5xx, every answer as documented (schema, status, content type).
            gateway = re.search(r"HTTP gateway\s+(http://\S+)", process.banner).group(1)
            command = [os.path.join(os.path.dirname(sys.executable), "schemathesis"), "run",
                       gateway + "/openapi.json", "--url", gateway,
                       "-H", "Authorization: Bearer " + tokens["admin"],
                       "--checks", "not_a_server_error,response_schema_conformance,"
                                   "status_code_conformance,content_type_conformance",
                       "--max-examples", "10", "--workers", "2", "--no-color", "--seed", "20261206"]
            try:
                done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                      timeout=300, cwd=WORK)
            except subprocess.TimeoutExpired as expired:
                output = expired.stdout.decode() if isinstance(expired.stdout, bytes) else (expired.stdout or "")
                raise AssertionError("schemathesis ran past 300 s: " + output[-4000:]) from None
            summary = [line.strip() for line in done.stdout.splitlines()
                       if re.match(r"\s*(Tested:|\d+ generated)", line)]
            # Its errors are reported ahead of the long warnings: show them, then the summary.
            errors = done.stdout.find("ERRORS")
            assert done.returncode == 0, (done.stdout[errors:errors + 4000] if errors >= 0 else "") + \
                done.stdout[-3000:]
            print("        " + "; ".join(summary))

        def gateway_binary_fronts_the_services():
            # The gateway as deployed: its own binary, an upstream per context (all this one).
            import json
            import urllib.request
            binary_dir = os.path.dirname(binary)
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                http_port = probe.getsockname()[1]
            upstream = f"http://127.0.0.1:{port}"
            env = dict(os.environ, FAZHI__GATEWAY__LISTEN_ADDRESS=f"127.0.0.1:{http_port}",
                       FAZHI__AUTH__HS256_SECRET="fazhi-dev-secret-not-for-production",
                       FAZHI__AUTH__DEVELOPMENT="true",
                       NO_COLOR="1",
                       **{f"FAZHI__GATEWAY__UPSTREAMS__{context.upper()}": upstream
                          for context in ("units", "plans", "indicators", "assessment")})
            gateway = subprocess.Popen([os.path.join(binary_dir, "fazhi-gateway")], env=env,
                                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            base = f"http://127.0.0.1:{http_port}"
            try:
                deadline = time.time() + 30
                while True:
                    try:
                        with urllib.request.urlopen(base + "/readyz", timeout=5) as answer:
                            assert answer.status == 200
                            break
                    except OSError:
                        assert gateway.poll() is None, gateway.stdout.read()
                        assert time.time() < deadline, "not ready within 30 s"
                        time.sleep(0.2)
                request = urllib.request.Request(
                    base + "/fazhi.plans.v1.PlansService/ListPlans", data=b"{}", method="POST",
                    headers={"content-type": "application/json", "authorization": "Bearer " + tokens["coordinator"]})
                with urllib.request.urlopen(request, timeout=10) as answer:
                    assert json.loads(answer.read())["plans"], "no plans"
                with urllib.request.urlopen(base + "/metrics", timeout=5) as answer:
                    assert b"/fazhi.plans.v1.PlansService/ListPlans" in answer.read()
            finally:
                gateway.send_signal(signal.SIGTERM)
                assert gateway.wait(timeout=15) == 0, gateway.stdout.read()

        def tongliao_demo_round_ranks_both_peer_groups():
            assessment = assessment_service_pb2_grpc.AssessmentServiceStub(channel)
            # The demo runs 通辽's round after 宁国's.
            deadline = time.time() + 60
            while True:
                try:
                    rounds = assessment.ListRounds(assessment_service_pb2.ListRoundsRequest(scheme="schemes/tl-2024"),
                                                   metadata=auth("admin")).rounds
                except grpc.RpcError as error:
                    if error.code() != grpc.StatusCode.NOT_FOUND or time.time() > deadline:
                        raise
                    rounds = []
                if rounds or time.time() > deadline:
                    break
                time.sleep(0.5)
            scheme = assessment.GetScheme(assessment_service_pb2.GetSchemeRequest(name="schemes/tl-2024"),
                                          metadata=auth("coordinator")).scheme
            assert [group.code for group in scheme.peer_groups] == ["counties", "departments"], scheme.peer_groups
            assert rounds and rounds[0].unit_count >= 20, rounds
            for group in ("counties", "departments"):
                scores = assessment.ListScores(assessment_service_pb2.ListScoresRequest(
                    round=rounds[0].name, peer_group=group), metadata=auth("admin")).scores
                assert scores and scores[0].rank == 1, (group, scores)

        def busy_port_is_one_line():
            command, env = dev_command(binary, port, "pgdata-busy")
            second = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
            lines = [line for line in (second.stdout + second.stderr).splitlines() if line.strip()]
            assert second.returncode != 0, lines
            assert len(lines) == 1 and "server.listen_address" in lines[0], lines
            # Refused before any database was made for it.
            assert not os.path.exists(os.path.join(WORK, "pgdata-busy")), "a cluster was made first"

        for name, function in [("health reports SERVING", health), ("reflection lists the service", reflection),
                               ("GetUnit with a dev token", get_with_token), ("no token: UNAUTHENTICATED", no_token),
                               ("ResolveUnitMentions", resolve), ("INVALID_ARGUMENT details", invalid_argument_details),
                               ("PERMISSION_DENIED across units", staff_cannot_touch_other_units),
                               ("create with request_id replay", coordinator_creates_below_own_unit),
                               ("demo plans published; a unit sees its own work", demo_plans),
                               ("claim, report progress with a file, fetch it", claim_and_report_with_a_file),
                               ("overdue days as of 2030-01-01", overdue_days),
                               ("XLSX task breakdown and progress read back", export_reads_back),
                               ("coverage of the cascaded 科尔沁区 plan", coverage_of_the_cascaded_plan),
                               ("indicators: report, return, approve, evaluate the region",
                                report_review_and_evaluate_a_region),
                               ("indicators: a return refused by its rule, then submitted; the rest chased",
                                submit_a_return_and_chase_the_rest),
                               ("a data-entry form exported, filled in with openpyxl, ingested twice",
                                fill_in_a_data_entry_form),
                               ("fazhi indicators ingest: a CSV file, then again", ingest_a_csv_file_twice),
                               ("a published plan's targets proposed; one accepted, replayed",
                                a_published_plan_proposes_its_targets),
                               ("assessment: a round run (replayed), a ranking, a unit's trace",
                                a_round_is_run_and_a_units_trace_read),
                               ("assessment: published; a unit's item answered and closed; the bulletin",
                                a_published_round_opens_an_item_closed_and_its_bulletin_fetched),
                               ("通辽's demo round ranks 旗县市区 and 市直单位", tongliao_demo_round_ranks_both_peer_groups),
                               ("events reach NATS JetStream: a unit's, read by a Python NATS client",
                                events_reach_nats_jetstream),
                               ("the HTTP gateway answers Connect JSON", gateway_answers_connect_json),
                               ("the official Connect client (Node) through the gateway",
                                official_connect_client_in_node),
                               ("fazhi-gateway, its own binary, in front of the services",
                                gateway_binary_fronts_the_services),
                               ("REST: a unit, a plan checked, an export and evidence (multipart) as files",
                                rest_walk_through),
                               # Before the fuzzer: it changes demo data the flows rely on.
                               ("the console in Chromium: a plan published, a task claimed, a value approved, a round's trace",
                                the_console_in_chromium),
                               ("schemathesis: the REST API's OpenAPI document against the running system",
                                schemathesis_finds_no_server_error_in_the_rest_api),
                               ("a busy port is one line naming the setting", busy_port_is_one_line)]:
            check(name, function)
    finally:
        took = stop(process)

    def stops_on_ctrl_c_without_waiting_for_the_grace():
        # Its own follower's event stream once held it for the whole 10 s grace period.
        assert took is not None and process.returncode == 0, (took, process.returncode)
        print(f"        stopped in {took:.1f} s (grace period 10 s)")
        assert took < 10, took
        assert not os.path.exists(os.path.join(WORK, "pgdata", "postmaster.pid")), "its Postgres still runs"


    def a_killed_runs_cluster_is_stopped_by_the_next():
        killed, _ = start_dev(binary, port)
        killed.kill()
        killed.wait()
        again, _ = start_dev(binary, port)
        try:
            assert "stopped the throwaway Postgres an earlier run left running" in again.banner, again.banner
        finally:
            assert stop(again) is not None
        assert not os.path.exists(os.path.join(WORK, "pgdata", "postmaster.pid")), "its Postgres still runs"

    check("Ctrl-C stops it at once", stops_on_ctrl_c_without_waiting_for_the_grace)
    check("a killed run's Postgres is stopped by the next run", a_killed_runs_cluster_is_stopped_by_the_next)
    failed = sum(1 for _, error in results if error)
    print(f"e2e: {len(results) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
