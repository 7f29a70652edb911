// The services through the gateway with the official Connect client (JSON over HTTP), the
// signed-in user's token on every call.
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { ElMessage } from "element-plus";
import type { Ref } from "vue";
import { createConnectTransport } from "@connectrpc/connect-web";
import { LocalizedMessageSchema, BadRequestSchema } from "./gen/google/rpc/error_details_pb";
import { UnitsService } from "./gen/fazhi/units/v1/units_service_pb";
import { PlansService } from "./gen/fazhi/plans/v1/plans_service_pb";
import { IndicatorsService } from "./gen/fazhi/indicators/v1/indicators_service_pb";
import { AssessmentService } from "./gen/fazhi/assessment/v1/assessment_service_pb";
import { session } from "./session";

const bearer: Interceptor = (next) => async (request) => {
  const token = session.identity?.token;
  if (token) request.header.set("authorization", `Bearer ${token}`);
  return next(request);
};

const transport = createConnectTransport({
  baseUrl: window.location.origin,
  interceptors: [bearer],
});

export const units = createClient(UnitsService, transport);
export const plans = createClient(PlansService, transport);
export const indicators = createClient(IndicatorsService, transport);
export const assessment = createClient(AssessmentService, transport);

/** A new request id, so that a retried click is answered once (AIP-155). */
export function requestId(): string {
  return crypto.randomUUID();
}

/** The links of an evidence field (佐证材料), one a line as the forms ask, blank lines left out. */
export function evidenceLinks(text: string): string[] {
  return text.split("\n").map((line) => line.trim()).filter(Boolean);
}

/** What to tell the user about a failed call: the service's zh-CN message and the fields it
 * names, else a sentence for the status. */
export function explain(error: unknown): string {
  const failure = ConnectError.from(error);
  const localized = failure
    .findDetails(LocalizedMessageSchema)
    .find((detail) => detail.locale.toLowerCase().startsWith("zh"));
  const fields = failure
    .findDetails(BadRequestSchema)
    .flatMap((detail) => detail.fieldViolations.map((violation) => violation.field));
  const message = localized?.message ?? FALLBACK[failure.code] ?? failure.rawMessage;
  return fields.length > 0 ? `${message}（${fields.join("、")}）` : message;
}

/** Runs what a user asked for: a failure is told in Chinese ({@link explain}) and `busy` (a
 * button's spinner, a table's loading mask) is set while it runs. Whether it succeeded. */
export async function attempt(action: () => Promise<unknown>, busy?: Ref<boolean>): Promise<boolean> {
  if (busy) busy.value = true;
  try {
    await action();
    return true;
  } catch (error) {
    ElMessage.error(explain(error));
    return false;
  } finally {
    if (busy) busy.value = false;
  }
}

/** {@link attempt} for an action on one row of a table: `busy` (one ref for all the rows) holds
 * the row's key while it runs, so that only that row's buttons spin. */
export async function attemptOn(key: string, busy: Ref<string>, action: () => Promise<unknown>): Promise<boolean> {
  busy.value = key;
  try {
    return await attempt(action);
  } finally {
    busy.value = "";
  }
}

const FALLBACK: Partial<Record<Code, string>> = {
  [Code.Unauthenticated]: "登录已失效，请重新登录",
  [Code.PermissionDenied]: "无权执行此操作",
  [Code.NotFound]: "未找到",
  [Code.Aborted]: "数据已被他人修改，请刷新后重试",
  [Code.Unavailable]: "服务暂不可用，请稍后重试",
  [Code.DeadlineExceeded]: "请求超时，请稍后重试",
  [Code.ResourceExhausted]: "请求过于频繁，请稍后重试",
};

/** The console's settings, from the gateway: demo identities under `fazhi dev`, the identity
 * provider otherwise. */
export interface ConsoleConfig {
  demoIdentities: { label: string; roles: string[]; unit?: string; token: string }[];
  oidc?: { authority: string; clientId: string; scope: string; unitClaim: string; rolesClaim: string };
}

export async function consoleConfig(): Promise<ConsoleConfig> {
  const answer = await fetch(`${import.meta.env.BASE_URL}config.json`);
  if (!answer.ok) throw new Error(`config.json: ${answer.status}`);
  return (await answer.json()) as ConsoleConfig;
}

/** Every page of a list, one call after another (`next` empty on the last). */
export async function allPages<T>(
  page: (pageToken: string) => Promise<{ items: T[]; next: string }>,
): Promise<T[]> {
  const items: T[] = [];
  let pageToken = "";
  do {
    const answer = await page(pageToken);
    items.push(...answer.items);
    pageToken = answer.next;
  } while (pageToken);
  return items;
}
