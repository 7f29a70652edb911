//! After publishing: progress with evidence, overdue lists, reassignment and the lead unit's
//! view, XLSX export read back, cascade and coverage.

use super::*;
use calamine::Reader;
use tonic_types::StatusExt;

const PDF: &[u8] = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n";
const PNG: &[u8] = &[
    0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D,
];

fn violated_fields(status: &tonic::Status) -> Vec<String> {
    status
        .get_error_details()
        .bad_request()
        .map(|request| {
            request
                .field_violations
                .iter()
                .map(|violation| violation.field.clone())
                .collect()
        })
        .unwrap_or_default()
}

fn reason(status: &tonic::Status) -> String {
    status
        .get_error_details()
        .error_info()
        .map(|info| info.reason.clone())
        .unwrap_or_default()
}

impl App {
    /// The 通辽 plan imported and published as of 2024-02-08 by an admin.
    async fn published_tongliao(&mut self) -> String {
        let admin = self.admin.clone();
        let plan = self
            .import("tongliao-2020.txt", "tongliao", &admin)
            .await
            .unwrap()
            .plan
            .unwrap();
        self.publish(&plan.name, &admin).await.unwrap();
        plan.name
    }

    async fn own_assignment(
        &mut self,
        unit: &str,
        task: &str,
        role: pb::AssignmentRole,
    ) -> pb::Assignment {
        let admin = self.admin.clone();
        self.assignments_of(unit, &admin)
            .await
            .unwrap()
            .into_iter()
            .find(|assignment| assignment.task_number == task && assignment.role == role as i32)
            .unwrap()
    }

    async fn claim(
        &mut self,
        assignment: &pb::Assignment,
        due_date: &str,
        token: &str,
    ) -> pb::Assignment {
        self.plans
            .claim_assignment(with_token(
                pb::ClaimAssignmentRequest {
                    name: assignment.name.clone(),
                    work_plan: Some(work_plan(due_date)),
                    ..Default::default()
                },
                token,
            ))
            .await
            .unwrap()
            .into_inner()
            .assignment
            .unwrap()
    }

    async fn report(
        &mut self,
        request: pb::ReportProgressRequest,
        token: &str,
    ) -> Result<pb::ReportProgressResponse, tonic::Status> {
        Ok(self
            .plans
            .report_progress(with_token(request, token))
            .await?
            .into_inner())
    }

    async fn overdue(
        &mut self,
        request: pb::ListOverdueAssignmentsRequest,
        token: &str,
    ) -> Result<Vec<pb::OverdueAssignment>, tonic::Status> {
        let mut all = Vec::new();
        let mut request = request;
        request.page_size = 50;
        loop {
            let page = self
                .plans
                .list_overdue_assignments(with_token(request.clone(), token))
                .await?
                .into_inner();
            all.extend(page.overdue_assignments);
            if page.next_page_token.is_empty() {
                return Ok(all);
            }
            request.page_token = page.next_page_token;
        }
    }

    async fn reports_count(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM plans.progress_reports")
            .fetch_one(&self.plans_database.pool)
            .await
            .unwrap()
    }

    async fn export(
        &mut self,
        plan: &str,
        table: pb::ExportTable,
        token: &str,
    ) -> Result<Vec<Vec<String>>, tonic::Status> {
        let exported = self
            .plans
            .export_plan(with_token(
                pb::ExportPlanRequest {
                    name: plan.to_owned(),
                    table: table as i32,
                },
                token,
            ))
            .await?
            .into_inner();
        assert!(
            exported.file_name.ends_with(".xlsx"),
            "{}",
            exported.file_name
        );
        let mut workbook: calamine::Xlsx<_> =
            calamine::open_workbook_from_rs(std::io::Cursor::new(exported.content)).unwrap();
        let sheet = workbook.worksheet_range_at(0).unwrap().unwrap();
        Ok(sheet
            .rows()
            .map(|row| row.iter().map(|cell| cell.to_string()).collect())
            .collect())
    }
}

fn progress(
    parent: &str,
    status: pb::ProgressStatus,
    percent: i32,
    files: Vec<(&str, &[u8])>,
) -> pb::ReportProgressRequest {
    pb::ReportProgressRequest {
        parent: parent.to_owned(),
        status: status as i32,
        percent,
        narrative: "已梳理权责清单并报市政府审定".to_owned(),
        evidence: files
            .into_iter()
            .map(|(file_name, content)| pb::EvidenceUpload {
                file_name: file_name.to_owned(),
                content: content.to_vec(),
            })
            .collect(),
        request_id: String::new(),
    }
}

#[tokio::test]
async fn a_unit_reports_progress_with_evidence_and_history_is_kept() {
    let mut app = App::start().await;
    app.published_tongliao().await;
    let staff = bearer("clerk", Some("tl-zwfwj"), &[Role::UnitStaff]);
    let lead = app
        .own_assignment("tl-zwfwj", "7", pb::AssignmentRole::Lead)
        .await;
    assert_eq!(
        lead.due_date, "2020-03-31",
        "the task's deadline until claimed"
    );

    // Not before it is claimed.
    let early = app
        .report(
            progress(&lead.name, pb::ProgressStatus::InProgress, 10, vec![]),
            &staff,
        )
        .await
        .unwrap_err();
    assert_eq!(
        (early.code(), reason(&early).as_str()),
        (Code::FailedPrecondition, "NOT_CLAIMED")
    );

    let claimed = app.claim(&lead, "2020-03-20", &staff).await;
    assert_eq!(
        claimed.due_date, "2020-03-20",
        "the work plan's due date once claimed"
    );

    let mut first = progress(
        &lead.name,
        pb::ProgressStatus::InProgress,
        40,
        vec![("权责清单(送审稿).pdf", PDF)],
    );
    first.request_id = "5b0f6c1e-8d2a-4c3b-9e4f-0a1b2c3d4e5f".to_owned();
    let reported = app.report(first.clone(), &staff).await.unwrap();
    let report = reported.progress_report.unwrap();
    assert!(
        report
            .name
            .starts_with(&format!("{}/progressReports/", lead.name))
    );
    assert_eq!(report.reporter, "clerk");
    let evidence = &report.evidence[0];
    assert_eq!(
        (
            evidence.file_name.as_str(),
            evidence.content_type.as_str(),
            evidence.size_bytes
        ),
        ("权责清单(送审稿).pdf", "application/pdf", PDF.len() as i64)
    );
    assert_eq!(evidence.sha256, fazhi_plans::blobs::sha256_hex(PDF));
    let on_disk = app
        .evidence
        .path()
        .join(&evidence.sha256[..2])
        .join(&evidence.sha256);
    assert_eq!(std::fs::read(on_disk).unwrap(), PDF);
    let assignment = reported.assignment.unwrap();
    assert_eq!(
        (
            assignment.state,
            assignment.progress_status,
            assignment.progress_percent
        ),
        (
            pb::AssignmentState::Claimed as i32,
            pb::ProgressStatus::InProgress as i32,
            40
        )
    );
    // A retry is answered from the first, not stored twice.
    let retried = app
        .report(first, &staff)
        .await
        .unwrap()
        .progress_report
        .unwrap();
    assert_eq!(retried.name, report.name);
    assert_eq!(app.reports_count().await, 1);

    // Bad reports are refused whole, naming each field; nothing is stored.
    let renamed_program = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00".as_slice();
    let bad = app
        .report(
            progress(
                &lead.name,
                pb::ProgressStatus::Completed,
                90,
                vec![("照片.pdf", renamed_program)],
            ),
            &staff,
        )
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&bad), ["percent", "evidence[0].content"]);
    let mut empty = progress(&lead.name, pb::ProgressStatus::Unspecified, 0, vec![]);
    empty.narrative = " ".to_owned();
    let empty = app.report(empty, &staff).await.unwrap_err();
    assert_eq!(violated_fields(&empty), ["status", "narrative"]);
    assert_eq!(app.reports_count().await, 1);

    // Another unit may neither report nor read.
    let other = bearer("clerk", Some("tl-sfj"), &[Role::UnitStaff]);
    let denied = app
        .report(
            progress(&lead.name, pb::ProgressStatus::InProgress, 50, vec![]),
            &other,
        )
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);

    let done = app
        .report(
            progress(
                &lead.name,
                pb::ProgressStatus::Completed,
                100,
                vec![("公布截图.png", PNG)],
            ),
            &staff,
        )
        .await
        .unwrap();
    assert_eq!(
        done.assignment.unwrap().state,
        pb::AssignmentState::Completed as i32
    );

    let history = app
        .plans
        .list_progress_reports(with_token(
            pb::ListProgressReportsRequest {
                parent: lead.name.clone(),
                page_size: 1,
                ..Default::default()
            },
            &staff,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        history.progress_reports[0].status,
        pb::ProgressStatus::Completed as i32
    );
    assert!(
        !history.next_page_token.is_empty(),
        "the earlier report is kept"
    );
    let older = app
        .plans
        .list_progress_reports(with_token(
            pb::ListProgressReportsRequest {
                parent: lead.name.clone(),
                page_size: 1,
                page_token: history.next_page_token,
            },
            &staff,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(older.progress_reports[0].name, report.name);
    assert_eq!(older.progress_reports[0].percent, 40);

    let file = app
        .plans
        .get_evidence(with_token(
            pb::GetEvidenceRequest {
                assignment: lead.name.clone(),
                sha256: evidence.sha256.clone(),
            },
            &staff,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(file.content, PDF);
    assert_eq!(file.evidence.unwrap().file_name, "权责清单(送审稿).pdf");
    let denied = app
        .plans
        .get_evidence(with_token(
            pb::GetEvidenceRequest {
                assignment: lead.name.clone(),
                sha256: evidence.sha256.clone(),
            },
            &other,
        ))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let unknown = app
        .plans
        .get_evidence(with_token(
            pb::GetEvidenceRequest {
                assignment: lead.name.clone(),
                sha256: "0".repeat(64),
            },
            &staff,
        ))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);

    let mut events = app
        .plans
        .watch_events(with_token(
            pb::WatchEventsRequest { after_sequence: 0 },
            &staff,
        ))
        .await
        .unwrap()
        .into_inner();
    let mut reported_events = 0;
    while let Some(Ok(response)) = events.next().await {
        if let Some(pb::plan_event::Payload::ProgressReported(event)) =
            response.event.unwrap().payload
        {
            reported_events += 1;
            if event.progress_report.unwrap().status == pb::ProgressStatus::Completed as i32 {
                break;
            }
        }
    }
    assert_eq!(reported_events, 2);
}

#[tokio::test]
async fn overdue_assignments_as_of_a_day_per_unit_and_region() {
    let mut app = App::start().await;
    let plan = app.published_tongliao().await;
    let staff = bearer("clerk", Some("tl-zwfwj"), &[Role::UnitStaff]);
    let lead = app
        .own_assignment("tl-zwfwj", "7", pb::AssignmentRole::Lead)
        .await;
    app.claim(&lead, "2020-03-20", &staff).await;

    let of_unit = |as_of: &str| pb::ListOverdueAssignmentsRequest {
        as_of: as_of.to_owned(),
        unit: "units/tl-zwfwj".to_owned(),
        ..Default::default()
    };
    let before = app.overdue(of_unit("2020-03-20"), &staff).await.unwrap();
    assert!(
        before
            .iter()
            .all(|overdue| overdue.assignment.as_ref().unwrap().name != lead.name)
    );
    let after = app.overdue(of_unit("2020-04-10"), &staff).await.unwrap();
    let listed = after
        .iter()
        .find(|overdue| overdue.assignment.as_ref().unwrap().name == lead.name)
        .unwrap();
    assert_eq!(listed.days_overdue, 21);

    // Exactly the unit's open work due before the day, most overdue first.
    let expected: std::collections::BTreeSet<String> = app
        .assignments_of("tl-zwfwj", &staff)
        .await
        .unwrap()
        .into_iter()
        .filter(|assignment| {
            !assignment.due_date.is_empty() && assignment.due_date.as_str() < "2020-04-10"
        })
        .map(|assignment| assignment.name)
        .collect();
    let found: std::collections::BTreeSet<String> = after
        .iter()
        .map(|overdue| overdue.assignment.as_ref().unwrap().name.clone())
        .collect();
    assert_eq!(found, expected);
    let days: Vec<i32> = after.iter().map(|overdue| overdue.days_overdue).collect();
    assert!(days.windows(2).all(|pair| pair[0] >= pair[1]), "{days:?}");

    // Completed work is not overdue.
    app.report(
        progress(&lead.name, pb::ProgressStatus::Completed, 100, vec![]),
        &staff,
    )
    .await
    .unwrap();
    let after = app.overdue(of_unit("2020-04-10"), &staff).await.unwrap();
    assert!(
        after
            .iter()
            .all(|overdue| overdue.assignment.as_ref().unwrap().name != lead.name)
    );

    // A region: the city and every unit under it, for the city's coordinator only.
    let coordinator = bearer("office", Some("tongliao"), &[Role::Coordinator]);
    let region = pb::ListOverdueAssignmentsRequest {
        as_of: "2020-04-10".to_owned(),
        unit: "units/tongliao".to_owned(),
        include_descendants: true,
        ..Default::default()
    };
    let whole = app.overdue(region.clone(), &coordinator).await.unwrap();
    let units: std::collections::BTreeSet<&str> = whole
        .iter()
        .map(|overdue| overdue.assignment.as_ref().unwrap().unit.as_str())
        .collect();
    assert!(
        units.contains("units/tl-zwfwj") && units.len() > 10,
        "{units:?}"
    );
    assert!(whole.len() > after.len());
    let by_plan = app
        .overdue(
            pb::ListOverdueAssignmentsRequest {
                as_of: "2020-04-10".to_owned(),
                plan: plan.clone(),
                ..Default::default()
            },
            &coordinator,
        )
        .await
        .unwrap();
    assert_eq!(by_plan.len(), whole.len());
    let denied = app.overdue(region, &staff).await.unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let bad_day = app
        .overdue(of_unit("2020-02-30"), &staff)
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&bad_day), ["as_of"]);
}

#[tokio::test]
async fn the_coordinator_reassigns_and_the_lead_unit_sees_its_tasks() {
    let mut app = App::start().await;
    let plan = app.published_tongliao().await;
    let lead_staff = bearer("clerk", Some("tl-zwfwj"), &[Role::UnitStaff]);

    // The lead unit sees every assignment of the tasks it leads, other units' included.
    let mut led = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = app
            .plans
            .list_assignments(with_token(
                pb::ListAssignmentsRequest {
                    led_by: "units/tl-zwfwj".to_owned(),
                    page_size: 100,
                    page_token,
                    ..Default::default()
                },
                &lead_staff,
            ))
            .await
            .unwrap()
            .into_inner();
        led.extend(page.assignments);
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    let led_tasks: std::collections::BTreeSet<&str> = led
        .iter()
        .map(|assignment| assignment.task_number.as_str())
        .collect();
    assert!(led_tasks.contains("7"));
    let task_seven: Vec<&pb::Assignment> = led
        .iter()
        .filter(|assignment| assignment.task_number == "7")
        .collect();
    assert!(task_seven.len() > 5, "{}", task_seven.len());
    assert!(
        task_seven
            .iter()
            .any(|assignment| assignment.unit != "units/tl-zwfwj")
    );
    let denied = app
        .plans
        .list_assignments(with_token(
            pb::ListAssignmentsRequest {
                led_by: "units/tl-sfj".to_owned(),
                ..Default::default()
            },
            &lead_staff,
        ))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);

    // A responsible assignment of task 7 moves to another unit, back to OPEN.
    let moving = task_seven
        .iter()
        .find(|assignment| {
            assignment.role == pb::AssignmentRole::Responsible as i32
                && assignment.unit != "units/tl-zwfwj"
        })
        .unwrap();
    let previous_unit = moving.unit.clone();
    let reassign = |unit: &str, reason: &str, etag: &str| pb::ReassignAssignmentRequest {
        name: moving.name.clone(),
        unit: unit.to_owned(),
        reason: reason.to_owned(),
        etag: etag.to_owned(),
        ..Default::default()
    };
    let coordinator = bearer("office", Some("tongliao"), &[Role::Coordinator]);
    let refused = app
        .plans
        .reassign_assignment(with_token(
            reassign("units/tl-gsl", "职能调整", ""),
            &lead_staff,
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    let invalid = app
        .plans
        .reassign_assignment(with_token(reassign("units/nowhere", "", ""), &coordinator))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&invalid), ["reason", "unit"]);
    let moved = app
        .plans
        .reassign_assignment(with_token(
            reassign("units/tl-gsl", "职能调整", &moving.etag),
            &coordinator,
        ))
        .await
        .unwrap()
        .into_inner()
        .assignment
        .unwrap();
    assert_eq!(
        (moved.unit.as_str(), moved.state),
        ("units/tl-gsl", pb::AssignmentState::Open as i32)
    );
    let stale = app
        .plans
        .reassign_assignment(with_token(
            reassign("units/tl-mzj", "再调整", &moving.etag),
            &coordinator,
        ))
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted);
    let old_unit = previous_unit.trim_start_matches("units/").to_owned();
    let admin = app.admin.clone();
    assert!(
        app.assignments_of(&old_unit, &admin)
            .await
            .unwrap()
            .iter()
            .all(|assignment| assignment.name != moving.name)
    );
    assert!(
        app.assignments_of("tl-gsl", &admin)
            .await
            .unwrap()
            .iter()
            .any(|assignment| assignment.name == moving.name)
    );
    // Onto a unit that has this part already: refused.
    let holder = task_seven
        .iter()
        .find(|assignment| {
            assignment.role == pb::AssignmentRole::Responsible as i32
                && assignment.name != moving.name
                && assignment.unit != "units/tl-gsl"
        })
        .unwrap();
    let taken = app
        .plans
        .reassign_assignment(with_token(reassign(&holder.unit, "合并", ""), &coordinator))
        .await
        .unwrap_err();
    assert_eq!(taken.code(), Code::AlreadyExists);
    let audited: Vec<String> = sqlx::query_scalar(
        "SELECT after ->> 'unit' FROM plans.audit_log WHERE resource = $1 AND method LIKE '%Reassign%' AND result = 'OK'",
    )
    .bind(&moving.name)
    .fetch_all(&app.plans_database.pool)
    .await
    .unwrap();
    assert_eq!(audited, ["tl-gsl"]);
    let _ = plan;
}

#[tokio::test]
async fn the_task_breakdown_and_progress_tables_read_back_from_xlsx() {
    let mut app = App::start().await;
    let plan = app.published_tongliao().await;
    let admin = app.admin.clone();
    let rows = app
        .export(&plan, pb::ExportTable::TaskBreakdown, &admin)
        .await
        .unwrap();
    assert_eq!(
        rows[0][0],
        "通辽市2020年度法治政府建设工作实施方案重点工作任务分解表"
    );
    assert_eq!(
        rows[1],
        ["序号", "重点工作任务", "牵头单位", "责任单位", "完成时限"]
    );
    let tasks = app.tasks(&plan).await;
    assert_eq!(rows.len(), 2 + tasks.len());
    for (row, task) in rows[2..].iter().zip(&tasks) {
        let mentions = |roles: &[pb::AssignmentRole]| {
            roles
                .iter()
                .flat_map(|role| {
                    task.mentions
                        .iter()
                        .filter(move |mention| mention.role == *role as i32)
                })
                .map(|mention| mention.mention.as_str())
                .collect::<Vec<_>>()
                .join("、")
        };
        assert_eq!(row[0], task.number);
        assert_eq!(row[1], task.text);
        assert_eq!(row[2], mentions(&[pb::AssignmentRole::Lead]));
        assert_eq!(row[3], mentions(&[pb::AssignmentRole::Responsible]));
    }
    assert_eq!(rows[2][2], "市委办、政府办");
    // A published plan's tasks are frozen: no task is added to it.
    let frozen = app
        .plans
        .create_task(with_token(
            pb::CreateTaskRequest {
                parent: plan.clone(),
                task: Some(pb::Task {
                    number: "46".to_owned(),
                    text: "开展示范创建。".to_owned(),
                    ..Default::default()
                }),
                ..Default::default()
            },
            &admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(frozen.code(), Code::FailedPrecondition);
    let seventh = rows.iter().find(|row| row[0] == "7").unwrap();
    assert!(seventh[4].contains("3月底"), "{seventh:?}");

    let staff = bearer("clerk", Some("tl-zwfwj"), &[Role::UnitStaff]);
    let lead = app
        .own_assignment("tl-zwfwj", "7", pb::AssignmentRole::Lead)
        .await;
    app.claim(&lead, "2020-03-20", &staff).await;
    app.report(
        progress(&lead.name, pb::ProgressStatus::InProgress, 40, vec![]),
        &staff,
    )
    .await
    .unwrap();
    let denied = app
        .export(&plan, pb::ExportTable::Progress, &staff)
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let rows = app
        .export(&plan, pb::ExportTable::Progress, &admin)
        .await
        .unwrap();
    assert_eq!(
        rows[1][..5],
        ["序号", "重点工作任务", "单位", "角色", "状态"]
    );
    assert_eq!(rows.len() - 2, 1089, "one row per assignment");
    let row = rows
        .iter()
        .find(|row| row[0] == "7" && row[2] == "通辽市政务服务局" && row[3] == "牵头")
        .unwrap();
    assert_eq!(
        (row[4].as_str(), row[5].as_str(), row[6].as_str()),
        ("推进中", "2020-03-20", "40")
    );
    // Long past 2020: everything not completed is overdue today.
    assert!(row[8].parse::<i64>().unwrap() > 365);
}

#[tokio::test]
async fn a_child_plan_cascades_and_its_coverage_is_reported() {
    let mut app = App::start().await;
    let parent = app.published_tongliao().await;
    let district = bearer("office", Some("tl-keqq"), &[Role::Coordinator]);
    let cascaded = app
        .plans
        .cascade_plan(with_token(
            pb::CascadePlanRequest {
                parent_plan: parent.clone(),
                issuer: "units/tl-keqq".to_owned(),
                ..Default::default()
            },
            &district,
        ))
        .await
        .unwrap()
        .into_inner();
    let child = cascaded.plan.unwrap();
    assert_eq!(child.title, "科尔沁区2020年度法治政府建设工作实施方案");
    assert_eq!(
        (child.state, child.parent_plan.as_str(), child.task_count),
        (pb::PlanState::Draft as i32, parent.as_str(), 45)
    );
    let report = cascaded.report.unwrap();
    assert!(report.mention_count > 0);
    // The city's stages (read from its text) come along.
    let stages: Vec<&str> = child
        .phases
        .iter()
        .map(|phase| phase.title.as_str())
        .collect();
    assert_eq!(
        stages,
        ["制定方案", "自查自评", "整改推进", "组织验收", "全面总结"]
    );
    assert_eq!(child.kind, pb::PlanKind::Annual as i32);
    let child_tasks = app.tasks(&child.name).await;
    let parent_tasks = app.tasks(&parent).await;
    assert_eq!(child_tasks[0].parent_task, parent_tasks[0].name);
    // 市委办 of the city's plan is the district's 区委办.
    assert!(
        child_tasks
            .iter()
            .flat_map(|task| &task.mentions)
            .any(|mention| mention.mention == "区委办")
    );
    let coverage = app
        .plans
        .get_coverage_report(with_token(
            pb::GetCoverageReportRequest {
                plan: child.name.clone(),
            },
            &district,
        ))
        .await
        .unwrap()
        .into_inner()
        .coverage_report
        .unwrap();
    assert_eq!(
        (
            coverage.covered.len(),
            coverage.missed.len(),
            coverage.unlinked.len()
        ),
        (45, 0, 0)
    );
    // Another district's coordinator may not cascade for this one.
    let other = bearer("office", Some("tl-kzzq"), &[Role::Coordinator]);
    let denied = app
        .plans
        .cascade_plan(with_token(
            pb::CascadePlanRequest {
                parent_plan: parent.clone(),
                issuer: "units/tl-keqq".to_owned(),
                ..Default::default()
            },
            &other,
        ))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);

    // An imported child plan: tasks matched to the parent's by their text.
    let text = format!(
        "科尔沁区2020年度法治政府建设工作实施方案\n一、重点任务\n1.{}\n牵头单位:区司法局\n2.{}\n牵头单位:区司法局\n3.组织开展“法律明白人”骨干培训,每个嘎查村培养3名法律明白人。\n牵头单位:区司法局\n",
        parent_tasks[0].text, parent_tasks[9].text
    );
    let imported = app
        .plans
        .import_plan(with_token(
            pb::ImportPlanRequest {
                issuer: "units/tl-keqq".to_owned(),
                content: text.into_bytes(),
                parent_plan: parent.clone(),
                ..Default::default()
            },
            &district,
        ))
        .await
        .unwrap()
        .into_inner()
        .plan
        .unwrap();
    let coverage = app
        .plans
        .get_coverage_report(with_token(
            pb::GetCoverageReportRequest {
                plan: imported.name.clone(),
            },
            &district,
        ))
        .await
        .unwrap()
        .into_inner()
        .coverage_report
        .unwrap();
    let covered: Vec<(&str, Vec<&str>)> = coverage
        .covered
        .iter()
        .map(|covered| {
            (
                covered.parent_task.as_ref().unwrap().number.as_str(),
                covered
                    .child_tasks
                    .iter()
                    .map(|task| task.number.as_str())
                    .collect(),
            )
        })
        .collect();
    assert_eq!(
        covered,
        [
            ("1", vec!["1"]),
            (parent_tasks[9].number.as_str(), vec!["2"])
        ]
    );
    assert_eq!(coverage.missed.len(), 43);
    assert_eq!(
        coverage
            .unlinked
            .iter()
            .map(|task| task.number.as_str())
            .collect::<Vec<_>>(),
        ["3"]
    );
    assert_eq!(coverage.parent_task_count, 45);
    let no_parent = app
        .plans
        .get_coverage_report(with_token(
            pb::GetCoverageReportRequest {
                plan: parent.clone(),
            },
            &district,
        ))
        .await
        .unwrap_err();
    assert_eq!(no_parent.code(), Code::FailedPrecondition);
}

#[tokio::test]
async fn a_merge_moves_open_assignments_to_the_successor() {
    let mut app = App::start().await;
    let admin = app.admin.clone();
    let plan = app
        .import("ningguo-2024.txt", "ningguo", &admin)
        .await
        .unwrap()
        .plan
        .unwrap();
    app.publish(&plan.name, &admin).await.unwrap();
    let merged = ["ng-sjzyj", "ng-zfb"];
    let mut before = Vec::new();
    for unit in merged {
        before.extend(app.assignments_of(unit, &admin).await.unwrap());
    }
    assert!(before.len() > 40, "{}", before.len());
    // One is done already: completed work stays where it was done.
    let done = before[0].clone();
    let staff = bearer(
        "clerk",
        Some(done.unit.trim_start_matches("units/")),
        &[Role::UnitStaff],
    );
    let due = if done.due_date.is_empty() {
        "2024-12-31"
    } else {
        done.due_date.as_str()
    };
    app.claim(&done, due, &staff).await;
    app.report(
        progress(&done.name, pb::ProgressStatus::Completed, 100, vec![]),
        &staff,
    )
    .await
    .unwrap();

    let follower = tokio::spawn(fazhi_plans::follow_reorganizations(
        app.book(),
        fazhi_plans::UnitsClient::new(&app.endpoint).unwrap(),
        admin.trim_start_matches("Bearer ").to_owned().into(),
    ));
    let mut registry = UnitsServiceClient::new(app._server.channel.clone());
    registry
        .reorganize_units(with_token(
            units::ReorganizeUnitsRequest {
                reorganization: Some(units::Reorganization {
                    kind: units::ReorganizationKind::Merge as i32,
                    effective_date: "2024-03-01".to_owned(),
                    source_units: merged.iter().map(|id| format!("units/{id}")).collect(),
                    note: "宁编〔2024〕3号".to_owned(),
                    ..Default::default()
                }),
                new_units: vec![units::Unit {
                    name: "units/ng-zwsj".to_owned(),
                    display_name: "宁国市政务服务和数据资源管理局".to_owned(),
                    short_name: "市数据资源局".to_owned(),
                    kind: units::UnitKind::GovernmentDepartment as i32,
                    level: units::AdministrativeLevel::County as i32,
                    parent: "units/ningguo".to_owned(),
                    ..Default::default()
                }],
                ..Default::default()
            },
            &admin,
        ))
        .await
        .unwrap();

    let mut after = Vec::new();
    for _ in 0..100 {
        after = app.assignments_of("ng-zwsj", &admin).await.unwrap();
        if !after.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    follower.abort();
    let successor: std::collections::HashSet<(String, i32)> = after
        .iter()
        .map(|assignment| (assignment.task_number.clone(), assignment.role))
        .collect();
    let moved: std::collections::HashSet<&str> = after
        .iter()
        .map(|assignment| assignment.name.as_str())
        .collect();
    for assignment in &before {
        if assignment.name == done.name {
            assert!(
                !moved.contains(assignment.name.as_str()),
                "completed work moved"
            );
        } else {
            // Moved, or the successor already has that part (both merged units had it).
            assert!(
                moved.contains(assignment.name.as_str())
                    || successor.contains(&(assignment.task_number.clone(), assignment.role)),
                "{} stayed with {}",
                assignment.name,
                assignment.unit
            );
        }
    }
    let reasons: Vec<String> = sqlx::query_scalar(
        "SELECT payload ->> 'reason' FROM plans.events WHERE event_type = 'assignment.reassigned'",
    )
    .fetch_all(&app.plans_database.pool)
    .await
    .unwrap();
    assert_eq!(reasons.len(), after.len());
    assert!(
        reasons
            .iter()
            .all(|reason| reason == "机构改革(合并):宁编〔2024〕3号"),
        "{reasons:?}"
    );
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM plans.audit_log WHERE subject = 'system' AND method = 'fazhi.units.v1/UnitsReorganized'",
    )
    .fetch_one(&app.plans_database.pool)
    .await
    .unwrap();
    assert_eq!(audited as usize, after.len());

    // Replaying the stream from the start applies nothing twice.
    let book = app.book();
    let cursor = book.cursor("units").await.unwrap();
    assert!(cursor > 0);
    let context = fazhi_platform::call::CallContext::system(
        "replay",
        fazhi_platform::call::Credentials::default(),
    );
    let again = book
        .apply_unit_moves(
            &context,
            ("units", cursor),
            &[("ng-zfb".to_owned(), "ng-zwsj".to_owned())],
            "",
        )
        .await
        .unwrap();
    assert_eq!(again, None, "an event applied before is not applied again");
    let _ = plan;
}

fn mask(paths: &[&str]) -> Option<prost_types::FieldMask> {
    Some(prost_types::FieldMask {
        paths: paths.iter().map(|path| (*path).to_owned()).collect(),
    })
}

#[tokio::test]
async fn a_draft_is_edited_then_published_then_closed() {
    let mut app = App::start().await;
    let admin = app.admin.clone();
    // 许昌's plan names no units per task: the coordinator assigns them before publishing.
    let plan = app
        .import("xuchang-2022-2025.txt", "xuchang", &admin)
        .await
        .unwrap()
        .plan
        .unwrap();
    assert_eq!(plan.kind, pb::PlanKind::MultiYear as i32);
    let tasks = app.tasks(&plan.name).await;
    let first = tasks[0].clone();
    let coordinator = bearer("office", Some("xuchang"), &[Role::Coordinator]);
    let edit = |etag: &str, mentions: Vec<pb::TaskMention>| pb::UpdateTaskRequest {
        task: Some(pb::Task {
            name: first.name.clone(),
            text: format!("{}2023年6月底前完成。", first.text),
            mentions,
            ..Default::default()
        }),
        update_mask: mask(&["text", "mentions"]),
        etag: etag.to_owned(),
        ..Default::default()
    };
    let mentions = vec![
        pb::TaskMention {
            role: pb::AssignmentRole::Lead as i32,
            mention: "市司法局".to_owned(),
            ..Default::default()
        },
        pb::TaskMention {
            role: pb::AssignmentRole::Responsible as i32,
            mention: "市政府办公室".to_owned(),
            target: Some(pb::task_mention::Target::Unit("units/xc-zfb".to_owned())),
            ..Default::default()
        },
        pb::TaskMention {
            role: pb::AssignmentRole::Responsible as i32,
            mention: "各县(市、区)".to_owned(),
            ..Default::default()
        },
    ];
    let staff = bearer("clerk", Some("xc-sfj"), &[Role::UnitStaff]);
    let denied = app
        .plans
        .update_task(with_token(edit("", mentions.clone()), &staff))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let edited = app
        .plans
        .update_task(with_token(edit(&plan.etag, mentions.clone()), &coordinator))
        .await
        .unwrap()
        .into_inner();
    let task = edited.task.unwrap();
    assert_eq!(targets(&task, pb::AssignmentRole::Lead), ["units/xc-sfj"]);
    assert_eq!(
        targets(&task, pb::AssignmentRole::Responsible)[0],
        "units/xc-zfb"
    );
    assert!(targets(&task, pb::AssignmentRole::Responsible)[1].starts_with("unitGroups/"));
    assert!(
        task.deadlines
            .iter()
            .any(|deadline| deadline.date == "2023-06-30"),
        "{:?}",
        task.deadlines
    );
    let stale = app
        .plans
        .update_task(with_token(edit(&plan.etag, mentions.clone()), &coordinator))
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted);
    let unknown_unit = vec![pb::TaskMention {
        role: pb::AssignmentRole::Lead as i32,
        mention: "某局".to_owned(),
        target: Some(pb::task_mention::Target::Unit(
            "units/xc-nowhere".to_owned(),
        )),
        ..Default::default()
    }];
    let refused = app
        .plans
        .update_task(with_token(edit("", unknown_unit), &coordinator))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&refused), ["task.mentions[0].unit"]);

    // Phases and kind; bad phases named.
    let phases = |end: &str| pb::Plan {
        name: plan.name.clone(),
        kind: pb::PlanKind::MultiYear as i32,
        phases: vec![
            pb::PlanPhase {
                title: "制定方案".to_owned(),
                start_date: "2022-01-01".to_owned(),
                end_date: end.to_owned(),
            },
            pb::PlanPhase {
                title: "全面总结".to_owned(),
                start_date: "2025-10-01".to_owned(),
                end_date: "2025-12-31".to_owned(),
            },
        ],
        ..Default::default()
    };
    let bad = app
        .plans
        .update_plan(with_token(
            pb::UpdatePlanRequest {
                plan: Some(phases("2021-12-31")),
                update_mask: mask(&["phases"]),
                ..Default::default()
            },
            &coordinator,
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&bad), ["plan.phases[0].end_date"]);
    let not_updatable = app
        .plans
        .update_plan(with_token(
            pb::UpdatePlanRequest {
                plan: Some(phases("2022-03-31")),
                update_mask: mask(&["issuer"]),
                ..Default::default()
            },
            &coordinator,
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&not_updatable), ["update_mask"]);
    let updated = app
        .plans
        .update_plan(with_token(
            pb::UpdatePlanRequest {
                plan: Some(phases("2022-03-31")),
                update_mask: mask(&["phases", "kind"]),
                ..Default::default()
            },
            &coordinator,
        ))
        .await
        .unwrap()
        .into_inner()
        .plan
        .unwrap();
    assert_eq!(updated.phases.len(), 2);
    assert_eq!(updated.phases[0].end_date, "2022-03-31");

    let published = app.publish(&plan.name, &coordinator).await.unwrap();
    assert!(
        published.assignment_count > 2,
        "{}",
        published.assignment_count
    );
    let frozen = app
        .plans
        .update_task(with_token(edit("", mentions), &coordinator))
        .await
        .unwrap_err();
    assert_eq!(reason(&frozen), "TASKS_FROZEN");

    let close = || pb::ClosePlanRequest {
        name: plan.name.clone(),
        ..Default::default()
    };
    let closed = app
        .plans
        .close_plan(with_token(close(), &coordinator))
        .await
        .unwrap()
        .into_inner()
        .plan
        .unwrap();
    assert_eq!(closed.state, pb::PlanState::Closed as i32);
    let again = app
        .plans
        .close_plan(with_token(close(), &coordinator))
        .await
        .unwrap_err();
    assert_eq!(reason(&again), "PLAN_NOT_PUBLISHED");
    let after_close = app
        .plans
        .update_plan(with_token(
            pb::UpdatePlanRequest {
                plan: Some(phases("2022-03-31")),
                update_mask: mask(&["phases"]),
                ..Default::default()
            },
            &coordinator,
        ))
        .await
        .unwrap_err();
    assert_eq!(reason(&after_close), "PLAN_CLOSED");
    let delete = |name: &str| pb::DeletePlanRequest {
        name: name.to_owned(),
        ..Default::default()
    };
    let not_draft = app
        .plans
        .delete_plan(with_token(delete(&plan.name), &coordinator))
        .await
        .unwrap_err();
    assert_eq!(reason(&not_draft), "PLAN_NOT_DRAFT");
    // A draft thrown away is gone.
    let draft = app
        .import("xuchang-2022-2025.txt", "xuchang", &admin)
        .await
        .unwrap()
        .plan
        .unwrap();
    app.plans
        .delete_plan(with_token(delete(&draft.name), &coordinator))
        .await
        .unwrap();
    let gone = app
        .plans
        .get_plan(with_token(
            pb::GetPlanRequest {
                name: draft.name.clone(),
            },
            &coordinator,
        ))
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
    let mut events = app
        .plans
        .watch_events(with_token(
            pb::WatchEventsRequest { after_sequence: 0 },
            &coordinator,
        ))
        .await
        .unwrap()
        .into_inner();
    loop {
        let event = events.next().await.unwrap().unwrap().event.unwrap();
        if let Some(pb::plan_event::Payload::PlanDeleted(deleted)) = event.payload {
            assert_eq!(deleted.plan, draft.name);
            break;
        }
    }
    let changes: Vec<String> = sqlx::query_scalar(
        "SELECT jsonb_array_elements_text(payload -> 'changed') FROM plans.events WHERE event_type = 'plan.updated' ORDER BY sequence",
    )
    .fetch_all(&app.plans_database.pool)
    .await
    .unwrap();
    assert_eq!(
        changes,
        ["tasks/t1", "tasks/t1/mentions", "phases", "kind", "state"]
    );
}

/// A task's number, title, part, section and mentions by role, as a coordinator reads them.
fn outline(task: &pb::Task) -> (String, String, String, String, Vec<(i32, String)>) {
    (
        task.number.clone(),
        task.title.clone(),
        task.part_number.clone(),
        task.section_number.clone(),
        task.mentions
            .iter()
            .map(|mention| (mention.role, mention.mention.clone()))
            .collect(),
    )
}

#[tokio::test]
async fn a_coordinator_types_tasks_in_moves_and_deletes_them() {
    let mut app = App::start().await;
    let admin = app.admin.clone();
    let coordinator = bearer("office", Some("xuchang"), &[Role::Coordinator]);
    let plan = app
        .import("xuchang-2022-2025.txt", "xuchang", &admin)
        .await
        .unwrap()
        .plan
        .unwrap();
    let before = app.tasks(&plan.name).await;
    let create = |etag: &str, number: &str, before_task: &str| pb::CreateTaskRequest {
        parent: plan.name.clone(),
        task: Some(pb::Task {
            number: number.to_owned(),
            text: "开展法治政府建设示范创建。2023年6月底前完成自评。".to_owned(),
            part_number: "九".to_owned(),
            part_title: "示范创建".to_owned(),
            mentions: vec![
                pb::TaskMention {
                    role: pb::AssignmentRole::Lead as i32,
                    mention: "市司法局".to_owned(),
                    ..Default::default()
                },
                pb::TaskMention {
                    role: pb::AssignmentRole::Responsible as i32,
                    mention: "各县(市、区)".to_owned(),
                    ..Default::default()
                },
            ],
            ..Default::default()
        }),
        before_task: before_task.to_owned(),
        etag: etag.to_owned(),
        ..Default::default()
    };
    let staff = bearer("clerk", Some("xc-sfj"), &[Role::UnitStaff]);
    let denied = app
        .plans
        .create_task(with_token(create("", "26", ""), &staff))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    // Without a token, none of the three gets anywhere.
    let mut anonymous = app.plans.clone();
    let codes = [
        anonymous
            .create_task(create("", "26", ""))
            .await
            .unwrap_err()
            .code(),
        anonymous
            .move_task(pb::MoveTaskRequest {
                name: before[0].name.clone(),
                ..Default::default()
            })
            .await
            .unwrap_err()
            .code(),
        anonymous
            .delete_task(pb::DeleteTaskRequest {
                name: before[0].name.clone(),
                ..Default::default()
            })
            .await
            .unwrap_err()
            .code(),
    ];
    assert_eq!(codes, [Code::Unauthenticated; 3]);
    let malformed = app
        .plans
        .move_task(with_token(
            pb::MoveTaskRequest {
                name: "plans/x".to_owned(),
                ..Default::default()
            },
            &coordinator,
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&malformed), ["name"]);
    let duplicate = app
        .plans
        .create_task(with_token(create("", "1", ""), &coordinator))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&duplicate), ["task.number"]);
    let elsewhere = app
        .plans
        .create_task(with_token(
            create("", "26", "plans/p-other/tasks/t1"),
            &coordinator,
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&elsewhere), ["before_task"]);

    let created = app
        .plans
        .create_task(with_token(
            create(&plan.etag, "26", &before[1].name),
            &coordinator,
        ))
        .await
        .unwrap()
        .into_inner();
    let task = created.task.unwrap();
    assert_eq!(
        outline(&task),
        (
            "26".to_owned(),
            "开展法治政府建设示范创建".to_owned(),
            "九".to_owned(),
            String::new(),
            vec![
                (pb::AssignmentRole::Lead as i32, "市司法局".to_owned()),
                (
                    pb::AssignmentRole::Responsible as i32,
                    "各县(市、区)".to_owned()
                )
            ]
        )
    );
    // Resolved against the issuer, as in UpdateTask; the deadline read from the text.
    assert_eq!(targets(&task, pb::AssignmentRole::Lead), ["units/xc-sfj"]);
    assert!(
        task.deadlines
            .iter()
            .any(|deadline| deadline.date == "2023-06-30")
    );
    let plan = created.plan.unwrap();
    assert_eq!(plan.task_count, before.len() as i32 + 1);
    let numbers = |tasks: &[pb::Task]| -> Vec<String> {
        tasks.iter().map(|task| task.number.clone()).collect()
    };
    let listed = app.tasks(&plan.name).await;
    assert_eq!(numbers(&listed)[..3], ["1", "26", "2"]);

    let stale = app
        .plans
        .move_task(with_token(
            pb::MoveTaskRequest {
                name: task.name.clone(),
                etag: "W/\"1\"".to_owned(),
                ..Default::default()
            },
            &coordinator,
        ))
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted);
    let moved = app
        .plans
        .move_task(with_token(
            pb::MoveTaskRequest {
                name: task.name.clone(),
                place: Some(pb::TaskPlace {
                    part_number: "八".to_owned(),
                    part_title: "加强党的领导".to_owned(),
                    section_number: "(三)".to_owned(),
                    section_title: "示范创建".to_owned(),
                }),
                etag: plan.etag.clone(),
                ..Default::default()
            },
            &coordinator,
        ))
        .await
        .unwrap()
        .into_inner();
    let moved_task = moved.task.unwrap();
    assert_eq!(
        (
            moved_task.part_number.as_str(),
            moved_task.section_number.as_str()
        ),
        ("八", "(三)")
    );
    let listed = app.tasks(&plan.name).await;
    assert_eq!(numbers(&listed).last().unwrap(), "26");
    assert_eq!(numbers(&listed)[..2], ["1", "2"]);

    let plan = moved.plan.unwrap();
    let deleted = app
        .plans
        .delete_task(with_token(
            pb::DeleteTaskRequest {
                name: before[0].name.clone(),
                etag: plan.etag.clone(),
                ..Default::default()
            },
            &coordinator,
        ))
        .await
        .unwrap()
        .into_inner()
        .plan
        .unwrap();
    assert_eq!(deleted.task_count, before.len() as i32);
    let listed = app.tasks(&plan.name).await;
    assert_eq!(numbers(&listed)[0], "2");
    assert_eq!(listed.len(), before.len());
    let gone = app
        .plans
        .delete_task(with_token(
            pb::DeleteTaskRequest {
                name: before[0].name.clone(),
                ..Default::default()
            },
            &coordinator,
        ))
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);

    // Every change audited with the task before and after; the refusals too.
    let audited: Vec<(String, String)> = sqlx::query_as(
        "SELECT method, result FROM plans.audit_log WHERE method LIKE '%Task' ORDER BY id",
    )
    .fetch_all(&app.plans_database.pool)
    .await
    .unwrap();
    let mut methods: Vec<(&str, &str)> = audited
        .iter()
        .map(|(method, result)| (method.rsplit('/').next().unwrap(), result.as_str()))
        .collect();
    // A change writes a row for the plan and one for the task.
    methods.dedup();
    assert_eq!(
        methods,
        [
            ("CreateTask", "PERMISSION_DENIED"),
            ("CreateTask", "INVALID_ARGUMENT"),
            ("CreateTask", "OK"),
            ("MoveTask", "ETAG_MISMATCH"),
            ("MoveTask", "OK"),
            ("DeleteTask", "OK"),
            ("DeleteTask", "TASK_NOT_FOUND"),
        ]
    );
}

#[tokio::test]
async fn the_task_breakdown_table_imports_back_as_the_plan() {
    let mut app = App::start().await;
    let admin = app.admin.clone();
    // A real plan, and one with participating units (配合单位, a column of its own).
    let documents = [
        fazhi_testkit::demo::plan_text("ningguo-2024.txt"),
        std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/layouts/closing-brackets.txt"
        ))
        .unwrap(),
    ];
    for document in documents {
        let import = |content: Vec<u8>| pb::ImportPlanRequest {
            issuer: "units/ningguo".to_owned(),
            content,
            ..Default::default()
        };
        let plan = app
            .plans
            .import_plan(with_token(import(document.into_bytes()), &admin))
            .await
            .unwrap()
            .into_inner()
            .plan
            .unwrap();
        let exported = app
            .plans
            .export_plan(with_token(
                pb::ExportPlanRequest {
                    name: plan.name.clone(),
                    table: pb::ExportTable::TaskBreakdown as i32,
                },
                &admin,
            ))
            .await
            .unwrap()
            .into_inner();
        let imported = app
            .plans
            .import_plan(with_token(import(exported.content), &admin))
            .await
            .unwrap()
            .into_inner()
            .plan
            .unwrap();
        assert_eq!(imported.title, plan.title);
        let original = app.tasks(&plan.name).await;
        let again = app.tasks(&imported.name).await;
        assert_eq!(again.len(), original.len());
        let summary = |task: &pb::Task| {
            (
                task.number.clone(),
                task.text.clone(),
                task.mentions
                    .iter()
                    .map(|mention| {
                        (
                            mention.role,
                            mention.mention.clone(),
                            mention.target.clone(),
                        )
                    })
                    .collect::<Vec<_>>(),
                task.deadlines
                    .iter()
                    .map(|deadline| deadline.date.clone())
                    .collect::<Vec<_>>(),
            )
        };
        for (before, after) in original.iter().zip(&again) {
            assert_eq!(summary(after), summary(before));
        }
        assert!(
            original
                .iter()
                .flat_map(|task| &task.mentions)
                .any(|mention| mention.role == pb::AssignmentRole::Participating as i32)
                || plan.title.contains("宁国")
        );
    }
}

/// AIP-211: a caller who may not act on an assignment is refused the same way whether or not it
/// exists (so names cannot be probed), and every refusal is audited; those who may see every
/// assignment of the plan learn that one is missing.
#[tokio::test]
async fn denials_look_the_same_whether_or_not_the_resource_exists() {
    let mut app = App::start().await;
    let admin = app.admin.clone();
    app.published_tongliao().await;
    let other = bearer("prober", Some("tl-sfj"), &[Role::UnitStaff]);
    let existing = app.task_seven_lead(&admin).await.name;
    let task = existing.rsplit_once("/assignments/").unwrap().0.to_owned();
    let missing_assignment = format!("{task}/assignments/no-such-assignment");
    let missing_plan = "plans/no-such-plan/tasks/t/assignments/a".to_owned();

    let claim = async |app: &mut App, name: &str, token: &str| {
        app.plans
            .claim_assignment(with_token(
                pb::ClaimAssignmentRequest {
                    name: name.to_owned(),
                    work_plan: Some(work_plan("2020-12-31")),
                    ..Default::default()
                },
                token,
            ))
            .await
            .unwrap_err()
    };
    let report = async |app: &mut App, name: &str, token: &str| {
        app.report(
            progress(name, pb::ProgressStatus::InProgress, 10, vec![]),
            token,
        )
        .await
        .unwrap_err()
    };
    let shape =
        |status: &tonic::Status| (status.code(), status.message().to_owned(), reason(status));
    let denied = shape(&claim(&mut app, &existing, &other).await);
    assert_eq!(denied.0, Code::PermissionDenied);
    for name in [&missing_assignment, &missing_plan] {
        assert_eq!(
            shape(&claim(&mut app, name, &other).await),
            denied,
            "claim {name}"
        );
        assert_eq!(
            shape(&report(&mut app, name, &other).await),
            denied,
            "report {name}"
        );
    }
    assert_eq!(shape(&report(&mut app, &existing, &other).await), denied);
    // Reading an assignment's reports or evidence, and reassigning it, the same.
    for name in [&existing, &missing_assignment, &missing_plan] {
        let reports = app
            .plans
            .list_progress_reports(with_token(
                pb::ListProgressReportsRequest {
                    parent: name.clone(),
                    ..Default::default()
                },
                &other,
            ))
            .await
            .unwrap_err();
        assert_eq!(shape(&reports), denied, "list reports of {name}");
        let evidence = app
            .plans
            .get_evidence(with_token(
                pb::GetEvidenceRequest {
                    assignment: name.clone(),
                    sha256: "0".repeat(64),
                },
                &other,
            ))
            .await
            .unwrap_err();
        assert_eq!(shape(&evidence), denied, "evidence of {name}");
        let reassign = app
            .plans
            .reassign_assignment(with_token(
                pb::ReassignAssignmentRequest {
                    name: name.clone(),
                    unit: "units/tl-sfj".to_owned(),
                    reason: "probe".to_owned(),
                    ..Default::default()
                },
                &other,
            ))
            .await
            .unwrap_err();
        assert_eq!(shape(&reassign), denied, "reassign {name}");
    }
    // Those who may see the whole plan are told what is missing.
    assert_eq!(
        claim(&mut app, &missing_assignment, &admin).await.code(),
        Code::NotFound
    );
    let coordinator = bearer("office", Some("tongliao"), &[Role::Coordinator]);
    assert_eq!(
        report(&mut app, &missing_assignment, &coordinator)
            .await
            .code(),
        Code::NotFound
    );

    // Listing another unit's assignments and a unit that does not exist: the same refusal.
    let list_denied = shape(&app.assignments_of("tl-zwfwj", &other).await.unwrap_err());
    assert_eq!(list_denied.0, Code::PermissionDenied);
    assert_eq!(
        shape(
            &app.assignments_of("no-such-unit", &other)
                .await
                .unwrap_err()
        ),
        list_denied
    );
    let unknown = app
        .assignments_of("no-such-unit", &admin)
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&unknown), ["unit"]);

    let refusals: Vec<(String, String)> = sqlx::query_as(
        "SELECT resource, method FROM plans.audit_log WHERE subject = 'prober' AND result = 'PERMISSION_DENIED'",
    )
    .fetch_all(&app.plans_database.pool)
    .await
    .unwrap();
    for (resource, method) in [
        (&existing, "ClaimAssignment"),
        (&existing, "ReportProgress"),
        (&missing_assignment, "ClaimAssignment"),
        (&missing_assignment, "ReportProgress"),
        (&missing_plan, "ClaimAssignment"),
        (&missing_assignment, "ListProgressReports"),
        (&missing_plan, "GetEvidence"),
        (&missing_assignment, "ReassignAssignment"),
        (&"units/tl-zwfwj".to_owned(), "ListAssignments"),
        (&"units/no-such-unit".to_owned(), "ListAssignments"),
    ] {
        assert!(
            refusals
                .iter()
                .any(|(audited, full)| audited == resource && full.ends_with(method)),
            "{method} on {resource} not audited: {refusals:?}"
        );
    }
}

#[tokio::test]
async fn a_regions_viewers_read_its_work_and_nothing_else() {
    let mut app = App::start().await;
    let plan = app.published_tongliao().await;
    let leader = bearer("tl-leader", Some("tongliao"), &[Role::Viewer]);
    let stranger = bearer("ng-leader", Some("ningguo"), &[Role::Viewer]);
    let department_viewer = bearer("tl-zwfwj-viewer", Some("tl-zwfwj"), &[Role::Viewer]);
    let of_plan = |token: &str| {
        with_token(
            pb::ListAssignmentsRequest {
                plan: plan.clone(),
                page_size: 1000,
                ..Default::default()
            },
            token,
        )
    };

    // 通辽's leaders read the plan's assignments, a department's, and the region's overdue work.
    let whole = app
        .plans
        .list_assignments(of_plan(&leader))
        .await
        .unwrap()
        .into_inner()
        .assignments;
    assert!(!whole.is_empty());
    assert!(
        !app.assignments_of("tl-zwfwj", &leader)
            .await
            .unwrap()
            .is_empty()
    );
    let region = pb::ListOverdueAssignmentsRequest {
        as_of: "2021-01-01".to_owned(),
        unit: "units/tongliao".to_owned(),
        include_descendants: true,
        ..Default::default()
    };
    assert!(
        !app.overdue(region.clone(), &leader)
            .await
            .unwrap()
            .is_empty()
    );

    // Another city's viewer, and a viewer below the issuer, may not; nor may a viewer change
    // anything.
    for token in [&stranger, &department_viewer] {
        let refused = app
            .plans
            .list_assignments(of_plan(token))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), tonic::Code::PermissionDenied, "{refused:?}");
    }
    let refused = app.overdue(region, &stranger).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);
    let lead = app
        .own_assignment("tl-zwfwj", "7", pb::AssignmentRole::Lead)
        .await;
    let refused = app
        .report(
            progress(&lead.name, pb::ProgressStatus::InProgress, 10, vec![]),
            &leader,
        )
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);
}
