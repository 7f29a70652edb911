//! Every mutating RPC of plans replays (AIP-155): the same request id gives the first answer,
//! on a retry and after the resource moved on — a stale etag, a plan no longer a draft, an
//! assignment claimed already — and the same id with another payload is refused.

use fazhi_testkit::replay::assert_replays;

use super::*;

/// A call of the plans client by a bearer token, as `assert_replays` sends it.
macro_rules! call {
    ($app:expr, $method:ident, $token:expr) => {{
        let client = $app.plans.clone();
        let token = $token.clone();
        move |request| {
            let mut client = client.clone();
            let token = token.clone();
            async move { client.$method(with_token(request, &token)).await }
        }
    }};
}

async fn set_title(client: &PlansServiceClient<Channel>, token: &str, plan: &str, title: &str) {
    client
        .clone()
        .update_plan(with_token(
            pb::UpdatePlanRequest {
                plan: Some(pb::Plan {
                    name: plan.to_owned(),
                    title: title.to_owned(),
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["title".to_owned()],
                }),
                ..Default::default()
            },
            token,
        ))
        .await
        .unwrap();
}

#[tokio::test]
async fn every_mutation_replays() {
    let mut app = App::start().await;
    let admin = app.admin.clone();
    let client = app.plans.clone();

    let import = pb::ImportPlanRequest {
        issuer: "units/tongliao".to_owned(),
        content: fazhi_testkit::demo::plan_text("tongliao-2020.txt").into_bytes(),
        request_id: "import-tongliao".to_owned(),
        ..Default::default()
    };
    let imported = assert_replays(
        "ImportPlan",
        call!(app, import_plan, admin),
        (
            import.clone(),
            pb::ImportPlanRequest {
                content: fazhi_testkit::demo::plan_text("ningguo-2024.txt").into_bytes(),
                ..import.clone()
            },
        ),
        async || {},
    )
    .await;
    let plan = imported.plan.unwrap();
    let imported_name = plan.name.clone();
    assert_eq!(
        app.plans_count().await,
        1,
        "three imports with one request id make one plan"
    );

    let retitle = pb::UpdatePlanRequest {
        plan: Some(pb::Plan {
            name: plan.name.clone(),
            title: "通辽市2020年度法治政府建设工作实施方案(修订)".to_owned(),
            etag: plan.etag.clone(),
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["title".to_owned()],
        }),
        request_id: "retitle".to_owned(),
    };
    let retitled = assert_replays(
        "UpdatePlan with an etag",
        call!(app, update_plan, admin),
        (
            retitle.clone(),
            pb::UpdatePlanRequest {
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["title".to_owned(), "document_number".to_owned()],
                }),
                ..retitle.clone()
            },
        ),
        async || set_title(&client, &admin, &imported_name, "通辽市方案").await,
    )
    .await;
    assert_eq!(
        retitled.plan.unwrap().title,
        "通辽市2020年度法治政府建设工作实施方案(修订)"
    );

    let tasks = app.tasks(&plan.name).await;
    let current = app.plan(&plan.name).await;
    let edit_task = pb::UpdateTaskRequest {
        task: Some(pb::Task {
            name: tasks[0].name.clone(),
            title: "加强党对法治政府建设的领导".to_owned(),
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["title".to_owned()],
        }),
        etag: current.etag.clone(),
        request_id: "edit-task".to_owned(),
    };
    assert_replays(
        "UpdateTask with an etag",
        call!(app, update_task, admin),
        (
            edit_task.clone(),
            pb::UpdateTaskRequest {
                etag: String::new(),
                ..edit_task.clone()
            },
        ),
        async || set_title(&client, &admin, &imported_name, "通辽市方案").await,
    )
    .await;

    let current = app.plan(&plan.name).await;
    let create = pb::CreateTaskRequest {
        parent: plan.name.clone(),
        task: Some(pb::Task {
            number: "46".to_owned(),
            text: "开展法治政府建设示范创建。".to_owned(),
            mentions: vec![pb::TaskMention {
                role: pb::AssignmentRole::Lead as i32,
                mention: "市司法局".to_owned(),
                ..Default::default()
            }],
            ..Default::default()
        }),
        before_task: tasks[1].name.clone(),
        etag: current.etag.clone(),
        request_id: "create-task".to_owned(),
    };
    let created = assert_replays(
        "CreateTask with an etag",
        call!(app, create_task, admin),
        (
            create.clone(),
            pb::CreateTaskRequest {
                before_task: String::new(),
                ..create.clone()
            },
        ),
        async || set_title(&client, &admin, &imported_name, "通辽市方案").await,
    )
    .await
    .task
    .unwrap();

    let current = app.plan(&plan.name).await;
    let move_task = pb::MoveTaskRequest {
        name: created.name.clone(),
        etag: current.etag.clone(),
        request_id: "move-task".to_owned(),
        ..Default::default()
    };
    assert_replays(
        "MoveTask with an etag",
        call!(app, move_task, admin),
        (
            move_task.clone(),
            pb::MoveTaskRequest {
                before_task: tasks[0].name.clone(),
                ..move_task.clone()
            },
        ),
        async || set_title(&client, &admin, &imported_name, "通辽市方案").await,
    )
    .await;

    let current = app.plan(&plan.name).await;
    let delete_task = pb::DeleteTaskRequest {
        name: created.name.clone(),
        etag: current.etag.clone(),
        request_id: "delete-task".to_owned(),
    };
    assert_replays(
        "DeleteTask with an etag (gone on the retry)",
        call!(app, delete_task, admin),
        (
            delete_task.clone(),
            pb::DeleteTaskRequest {
                name: tasks[0].name.clone(),
                ..delete_task.clone()
            },
        ),
        async || set_title(&client, &admin, &imported_name, "通辽市方案").await,
    )
    .await;

    let current = app.plan(&plan.name).await;
    let publish = pb::PublishPlanRequest {
        name: plan.name.clone(),
        etag: current.etag.clone(),
        request_id: "publish".to_owned(),
        publish_date: "2020-02-08".to_owned(),
    };
    let published = assert_replays(
        "PublishPlan with an etag (the plan is no longer a draft on the retry)",
        call!(app, publish_plan, admin),
        (
            publish.clone(),
            pb::PublishPlanRequest {
                publish_date: "2020-02-09".to_owned(),
                ..publish.clone()
            },
        ),
        async || set_title(&client, &admin, &imported_name, "通辽市方案").await,
    )
    .await;
    assert!(published.assignment_count > 0);

    let staff = bearer("clerk", Some("tl-zwfwj"), &[Role::UnitStaff]);
    let lead = app.task_seven_lead(&staff).await;
    let report = |percent: i32, request_id: &str| pb::ReportProgressRequest {
        parent: lead.name.clone(),
        status: pb::ProgressStatus::InProgress as i32,
        percent,
        narrative: "已梳理权责清单".to_owned(),
        request_id: request_id.to_owned(),
        ..Default::default()
    };
    let claim = pb::ClaimAssignmentRequest {
        name: lead.name.clone(),
        work_plan: Some(work_plan("2020-03-20")),
        etag: lead.etag.clone(),
        request_id: "claim".to_owned(),
    };
    let reporter = client.clone();
    let reporter_token = staff.clone();
    assert_replays(
        "ClaimAssignment with an etag (claimed already on the retry)",
        call!(app, claim_assignment, staff),
        (
            claim.clone(),
            pb::ClaimAssignmentRequest {
                work_plan: Some(work_plan("2020-03-21")),
                ..claim.clone()
            },
        ),
        async || {
            reporter
                .clone()
                .report_progress(with_token(report(10, ""), &reporter_token))
                .await
                .unwrap();
        },
    )
    .await;

    let reported = assert_replays(
        "ReportProgress",
        call!(app, report_progress, staff),
        (report(50, "report-50"), report(60, "report-50")),
        async || {
            reporter
                .clone()
                .report_progress(with_token(report(70, ""), &reporter_token))
                .await
                .unwrap();
        },
    )
    .await;
    assert_eq!(reported.assignment.unwrap().progress_percent, 50);

    // As in the reassignment test: a responsible unit of task 7 gives its part to 工商联.
    let moving = client
        .clone()
        .list_assignments(with_token(
            pb::ListAssignmentsRequest {
                plan: plan.name.clone(),
                page_size: 1000,
                ..Default::default()
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner()
        .assignments
        .into_iter()
        .find(|assignment| {
            assignment.task_number == "7"
                && assignment.role == pb::AssignmentRole::Responsible as i32
                && assignment.unit != "units/tl-zwfwj"
        })
        .unwrap();
    let reassign = pb::ReassignAssignmentRequest {
        name: moving.name.clone(),
        unit: "units/tl-gsl".to_owned(),
        reason: "职能调整".to_owned(),
        etag: moving.etag.clone(),
        request_id: "reassign".to_owned(),
    };
    let back = pb::ReassignAssignmentRequest {
        unit: moving.unit.clone(),
        etag: String::new(),
        request_id: String::new(),
        ..reassign.clone()
    };
    assert_replays(
        "ReassignAssignment with an etag (the unit has it already on the retry)",
        call!(app, reassign_assignment, admin),
        (
            reassign.clone(),
            pb::ReassignAssignmentRequest {
                reason: "另一个理由".to_owned(),
                ..reassign.clone()
            },
        ),
        async || {
            client
                .clone()
                .reassign_assignment(with_token(back.clone(), &admin))
                .await
                .unwrap();
        },
    )
    .await;

    let cascade = pb::CascadePlanRequest {
        parent_plan: plan.name.clone(),
        issuer: "units/tl-keqq".to_owned(),
        request_id: "cascade".to_owned(),
        ..Default::default()
    };
    let cascaded = assert_replays(
        "CascadePlan",
        call!(app, cascade_plan, admin),
        (
            cascade.clone(),
            pb::CascadePlanRequest {
                title: "科尔沁区方案".to_owned(),
                ..cascade.clone()
            },
        ),
        async || {},
    )
    .await;
    let child = cascaded.plan.unwrap();

    let delete = pb::DeletePlanRequest {
        name: child.name.clone(),
        etag: child.etag.clone(),
        request_id: "delete-child".to_owned(),
    };
    assert_replays(
        "DeletePlan with an etag (gone on the retry)",
        call!(app, delete_plan, admin),
        (
            delete.clone(),
            pb::DeletePlanRequest {
                etag: String::new(),
                ..delete.clone()
            },
        ),
        async || {},
    )
    .await;

    let current = app.plan(&plan.name).await;
    let close = pb::ClosePlanRequest {
        name: plan.name.clone(),
        etag: current.etag.clone(),
        request_id: "close".to_owned(),
    };
    assert_replays(
        "ClosePlan with an etag (closed on the retry)",
        call!(app, close_plan, admin),
        (
            close.clone(),
            pb::ClosePlanRequest {
                etag: String::new(),
                ..close.clone()
            },
        ),
        async || {},
    )
    .await;
}

impl App {
    async fn plan(&mut self, name: &str) -> pb::Plan {
        self.plans
            .get_plan(with_token(
                pb::GetPlanRequest {
                    name: name.to_owned(),
                },
                &self.admin,
            ))
            .await
            .unwrap()
            .into_inner()
            .plan
            .unwrap()
    }

    async fn plans_count(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM plans.plans")
            .fetch_one(&self.plans_database.pool)
            .await
            .unwrap()
    }
}
