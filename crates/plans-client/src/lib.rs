//! The plans service as other services call it: over gRPC, with the caller's own credentials,
//! the current trace and the call's remaining deadline carried along, and the upstream status
//! code kept.

use fazhi_platform::call::CallContext;
use fazhi_platform::telemetry::TraceContextInterceptor;
pub use fazhi_platform::upstream::UpstreamError as PlansClientError;
use fazhi_platform::upstream::outbound;
use fazhi_proto::plans::v1 as plans;
use fazhi_proto::plans::v1::plans_service_client::PlansServiceClient;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

/// Tasks and assignments per page (the plans service's most).
const PER_PAGE: i32 = 1000;

/// A plan with every task, in the plan's order.
#[derive(Debug, Clone)]
pub struct PlanWithTasks {
    pub plan: plans::Plan,
    pub tasks: Vec<plans::Task>,
}

/// A client of `fazhi.plans.v1.PlansService`. Cheap to clone.
#[derive(Clone)]
pub struct PlansClient {
    client: PlansServiceClient<InterceptedService<Channel, TraceContextInterceptor>>,
}

impl PlansClient {
    /// Connects on first use, so services can start in any order.
    pub fn new(endpoint: &str) -> Result<Self, PlansClientError> {
        let channel = Endpoint::from_shared(endpoint.to_owned())
            .map_err(|error| PlansClientError::Unavailable(format!("bad endpoint: {error}")))?
            .connect_lazy();
        Ok(Self {
            // A page of 1000 tasks with their mentions runs to a few MiB.
            client: PlansServiceClient::with_interceptor(channel, TraceContextInterceptor)
                .max_decoding_message_size(16 << 20),
        })
    }

    /// A plan (`plans/{plan}`) and all its tasks, as the caller may read them.
    #[tracing::instrument(name = "grpc.client", skip_all, fields(otel.kind = "client", rpc.system = "grpc", rpc.method = "/fazhi.plans.v1.PlansService/ListTasks"))]
    pub async fn plan_with_tasks(
        &self,
        context: &CallContext,
        plan: &str,
    ) -> Result<PlanWithTasks, PlansClientError> {
        let fail = |status: tonic::Status| PlansClientError::from_status(&status, plan);
        let plan_message = self
            .client
            .clone()
            .get_plan(outbound(
                plans::GetPlanRequest {
                    name: plan.to_owned(),
                },
                context,
            )?)
            .await
            .map_err(fail)?
            .into_inner()
            .plan
            .ok_or_else(|| PlansClientError::Failed(format!("{plan} came back empty")))?;
        let mut tasks = Vec::new();
        let mut page_token = String::new();
        loop {
            let page = self
                .client
                .clone()
                .list_tasks(outbound(
                    plans::ListTasksRequest {
                        parent: plan.to_owned(),
                        page_size: PER_PAGE,
                        page_token,
                    },
                    context,
                )?)
                .await
                .map_err(fail)?
                .into_inner();
            tasks.extend(page.tasks);
            if page.next_page_token.is_empty() {
                return Ok(PlanWithTasks {
                    plan: plan_message,
                    tasks,
                });
            }
            page_token = page.next_page_token;
        }
    }

    /// Every assignment of a plan (`plans/{plan}`), of every unit, as the caller may list them.
    #[tracing::instrument(name = "grpc.client", skip_all, fields(otel.kind = "client", rpc.system = "grpc", rpc.method = "/fazhi.plans.v1.PlansService/ListAssignments"))]
    pub async fn assignments(
        &self,
        context: &CallContext,
        plan: &str,
    ) -> Result<Vec<plans::Assignment>, PlansClientError> {
        let mut assignments = Vec::new();
        let mut page_token = String::new();
        loop {
            let page = self
                .client
                .clone()
                .list_assignments(outbound(
                    plans::ListAssignmentsRequest {
                        plan: plan.to_owned(),
                        page_size: PER_PAGE,
                        page_token,
                        ..Default::default()
                    },
                    context,
                )?)
                .await
                .map_err(|status| PlansClientError::from_status(&status, plan))?
                .into_inner();
            assignments.extend(page.assignments);
            if page.next_page_token.is_empty() {
                return Ok(assignments);
            }
            page_token = page.next_page_token;
        }
    }

    /// The plans service's events after a sequence, then new ones as they happen.
    #[tracing::instrument(name = "grpc.client", skip_all, fields(otel.kind = "client", rpc.system = "grpc", rpc.method = "/fazhi.plans.v1.PlansService/WatchEvents"))]
    pub async fn watch_events(
        &self,
        context: &CallContext,
        after_sequence: i64,
    ) -> Result<tonic::Streaming<plans::WatchEventsResponse>, PlansClientError> {
        Ok(self
            .client
            .clone()
            .watch_events(outbound(
                plans::WatchEventsRequest { after_sequence },
                context,
            )?)
            .await
            .map_err(|status| PlansClientError::from_status(&status, "plans events"))?
            .into_inner())
    }
}
