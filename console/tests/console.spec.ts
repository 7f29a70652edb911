// The console's main flows in a real browser against `fazhi dev`: what a coordinator and a
// unit do with it. A console error on any page fails the test; each main page is kept as a
// screenshot (test-results/screenshots/, copied into docs/console/ when they change).
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { expect, test as base, type Page } from "@playwright/test";

const PLAN = fileURLToPath(new URL("../../crates/fazhi/demo/plans/ningguo-2024.txt", import.meta.url));

// `refusals`: the methods (`/SubmitReturn`) a test expects the services to refuse, as the
// service, not the page, checks what it refuses; any other failed call fails the test.
const test = base.extend<{ page: Page; refusals: string[] }>({
  refusals: async ({}, use) => use([]),
  page: async ({ page, refusals }, use) => {
    const errors: string[] = [];
    const expected = (url: string) => refusals.some((method) => url.endsWith(method));
    page.on("console", (message) => {
      if (message.type() === "error" && !expected(message.location().url)) errors.push(message.text());
    });
    page.on("pageerror", (error) => errors.push(error.message));
    // Which call a "Failed to load resource" line is about.
    page.on("response", (response) => {
      if (response.status() >= 400 && !(response.status() === 400 && expected(response.url()))) {
        errors.push(`${response.status()} ${response.request().method()} ${response.url()}`);
      }
    });
    await use(page);
    expect(errors, "console errors on the page").toEqual([]);
  },
});

async function signInAs(page: Page, label: string) {
  await page.goto("/console/");
  await expect(page).toHaveURL(/\/console\/login/);
  await page.getByRole("button", { name: `以${label}身份进入` }).click();
}

async function snapshot(page: Page, name: string, fullPage = false) {
  await page.screenshot({ path: `test-results/screenshots/${name}.png`, fullPage });
}

test("a coordinator imports a plan, checks the draft and publishes it", async ({ page }) => {
  await signInAs(page, "宁国市人民政府 协调员（依法治市办）");
  await expect(page).toHaveURL(/\/console\/plans$/);
  await expect(page.getByRole("heading", { name: "实施方案" })).toBeVisible();
  await expect(page.locator(".el-table__row").first()).toBeVisible();
  await snapshot(page, "plans");

  await page.getByRole("button", { name: "导入实施方案" }).click();
  const dialog = page.getByRole("dialog", { name: "导入实施方案" });
  await dialog.locator("input[type=file]").setInputFiles({
    name: "宁国市2024年法治政府建设工作要点.txt",
    mimeType: "text/plain",
    buffer: readFileSync(PLAN),
  });
  await dialog.getByRole("button", { name: "导入", exact: true }).click();

  // The draft: its tasks with their lead and responsible units, before anyone sees them.
  await expect(page).toHaveURL(/\/console\/plans\/[^/]+$/);
  await expect(page.getByText("草稿", { exact: true })).toBeVisible();
  await expect(page.getByText(/识别任务 \d+ 项/)).toBeVisible();
  const rows = page.locator(".tasks .el-table__row");
  await expect(rows.first()).toBeVisible();
  expect(await rows.count()).toBeGreaterThan(20);
  await expect(page.getByText("宁国市人民政府").first()).toBeVisible();
  await snapshot(page, "plan-draft");

  await expect(page.getByText(/待确定 0 处/)).toBeVisible();

  // A task corrected by hand before publishing.
  await page.getByRole("button", { name: "编辑任务1", exact: true }).click();
  const edit = page.getByRole("dialog", { name: "编辑任务" });
  const title = edit.getByLabel("标题");
  await title.fill(`${await title.inputValue()}（修订）`);
  await edit.getByRole("button", { name: "保存" }).click();
  await expect(page.getByText("已修改任务 1")).toBeVisible();
  await expect(page.locator(".tasks .el-table__row").first()).toContainText("（修订）");

  await page.getByRole("button", { name: "发布方案" }).click();
  await expect(page.getByText(/已发布：分派任务 \d+ 项/)).toBeVisible();
  await expect(page.getByText("已发布", { exact: true })).toBeVisible();
  await expect(page.getByRole("button", { name: "发布方案" })).toHaveCount(0);
  await snapshot(page, "plan-published");
});

test("a unit claims an assignment with its work plan", async ({ page }) => {
  await signInAs(page, "宁国市司法局 工作人员");
  await expect(page).toHaveURL(/\/console\/assignments$/);
  await expect(page.getByRole("heading", { name: /本单位任务 · 宁国市司法局/ })).toBeVisible();
  await expect(page.locator(".el-table__row").first()).toBeVisible();
  await snapshot(page, "assignments");

  const open = page.locator(".el-table__row", { has: page.getByRole("button", { name: "认领" }) }).first();
  const task = (await open.locator("td").first().innerText()).trim();
  await open.getByRole("button", { name: "认领" }).click();
  const dialog = page.getByRole("dialog", { name: "认领任务" });

  // Nothing filled in: each field says what it needs, in Chinese.
  await dialog.getByLabel("完成时限").fill("");
  await dialog.getByRole("button", { name: "提交认领" }).click();
  await expect(dialog.getByText("请填写分管领导")).toBeVisible();
  await expect(dialog.getByText("请填写具体负责人")).toBeVisible();
  await snapshot(page, "claim-form");

  await dialog.getByLabel("分管领导").fill("王副局长");
  await dialog.getByLabel("具体负责人").fill("法治督察科 李科长");
  await dialog.getByLabel("工作措施").fill("制定本单位落实方案，按季度报送进展。");
  await dialog.getByLabel("完成时限").fill("2024-12-31");
  await dialog.getByLabel("完成时限").press("Enter");
  await dialog.getByRole("button", { name: "提交认领" }).click();
  await expect(page.getByText("已认领", { exact: true }).first()).toBeVisible();
  const claimed = page.locator(".el-table__row", { hasText: task }).first();
  await expect(claimed.getByText("已认领")).toBeVisible();

  // Then its progress, with a file as evidence (佐证材料).
  await claimed.getByRole("button", { name: "报告进展" }).click();
  const progress = page.getByRole("dialog", { name: "报告进展" });
  await progress.getByLabel("工作进展").fill("已召开专题会议部署，完成方案起草。");
  await progress.locator("input[type=file]").setInputFiles({
    name: "专题会议纪要.pdf",
    mimeType: "application/pdf",
    buffer: Buffer.from("%PDF-1.4\n% 专题会议纪要\n%%EOF\n"),
  });
  await snapshot(page, "progress-form");
  await progress.getByRole("button", { name: "报送进展" }).click();
  await expect(page.getByText("进展已报送，佐证材料 1 份")).toBeVisible();
});

test("a unit enters a data value and submits it; the coordinator approves it", async ({ page, refusals }) => {
  await signInAs(page, "宁国市司法局 工作人员");
  await page.getByRole("menuitem", { name: "数据填报" }).click();
  await expect(page.getByRole("heading", { name: /数据填报 · 宁国市司法局/ })).toBeVisible();
  await page.getByLabel("报告期").fill("2025");
  await page.getByLabel("报告期").press("Enter");
  await page.getByLabel("报告期").blur();
  const input = page.getByLabel("重大行政决策数的填报值", { exact: true });
  const row = page.locator(".el-table__row").filter({ has: input });
  await expect(row.getByText("未填报")).toBeVisible();

  // Not a number: the form says so in Chinese, and nothing is sent.
  await input.fill("三件");
  await row.getByRole("button", { name: "保存" }).click();
  await expect(page.getByText("请填写重大行政决策数的数值")).toBeVisible();

  await input.fill("3");
  await row.getByRole("button", { name: "保存" }).click();
  await expect(row.getByText("草稿")).toBeVisible();
  await row.getByRole("button", { name: "报送" }).click();
  await expect(row.getByText("已报送")).toBeVisible();
  await snapshot(page, "data-entry");

  // One form (报表) at a time, submitted whole (整表报送): refused while one of its rules fails.
  await page.locator(".el-select", { has: page.getByRole("combobox", { name: "报表" }) }).click();
  await page.getByRole("option", { name: "行政诉讼案件情况" }).click();
  await expect(page.getByText(/行政诉讼案件情况：未填报，已填 0 \/ 3 项/)).toBeVisible();
  await expect(input).toHaveCount(0);
  const enter = async (element: string, value: string) => {
    const field = page.getByLabel(`${element}的填报值`, { exact: true });
    await field.fill(value);
    const saved = page.waitForResponse((response) => response.url().endsWith("/ReportDataValue") && response.ok());
    await page.locator(".el-table__row").filter({ has: field }).getByRole("button", { name: "保存" }).click();
    await saved;
  };
  await enter("行政诉讼案件数", "5");
  await enter("行政诉讼审结案件数", "6");
  await enter("行政诉讼败诉案件数", "1");
  refusals.push("/SubmitReturn");
  await page.getByRole("button", { name: "整表报送" }).click();
  await expect(page.getByText(/校验规则「审结数不超过案件数」不成立/)).toBeVisible();
  await enter("行政诉讼审结案件数", "4");
  await page.getByRole("button", { name: "整表报送" }).click();
  await expect(page.getByText("已整表报送：行政诉讼案件情况")).toBeVisible();
  await expect(page.getByText(/行政诉讼案件情况：已报送，已填 3 \/ 3 项/)).toBeVisible();
  await expect(page.locator(".el-table__row").getByText("已报送")).toHaveCount(3);
  // 2025's returns were due by 2026-01-15: submitted since, the return is late (迟报).
  await expect(page.locator(".form-state").getByText("迟报", { exact: true })).toBeVisible();
  await expect(page.getByRole("button", { name: "整表报送" })).toBeDisabled();
  await expect(page.locator(".el-message")).toHaveCount(0, { timeout: 15_000 });
  await snapshot(page, "data-entry-form");

  await page.getByRole("button", { name: "退出" }).click();
  await signInAs(page, "宁国市人民政府 协调员（依法治市办）");
  await page.getByRole("menuitem", { name: "数据审核" }).click();
  const waiting = page
    .locator(".el-table__row", { hasText: "宁国市司法局" })
    .filter({ has: page.getByText("重大行政决策数", { exact: true }) })
    .filter({ hasText: "2025" });
  await expect(waiting).toHaveCount(1);
  await snapshot(page, "review-queue");
  await waiting.getByRole("button", { name: "通过" }).click();
  await expect(page.getByText("已审核通过")).toBeVisible();
  await expect(waiting).toHaveCount(0);
});

test("the coordinator runs a round, reads a unit's score trace and publishes; the unit sees its item", async ({ page }) => {
  await signInAs(page, "宁国市人民政府 协调员（依法治市办）");
  await page.getByRole("menuitem", { name: "考核" }).click();
  await expect(page.getByRole("heading", { name: "考核", exact: true })).toBeVisible();
  await page.getByRole("button", { name: "运行考核" }).click();
  await expect(page.getByText(/考核已运行：\d+ 个单位/)).toBeVisible();
  await expect(page.getByText("未发布")).toBeVisible();
  const unit = page.locator(".el-table__row", { hasText: "宁国市司法局" }).first();
  await expect(unit).toBeVisible();
  await expect(page.locator(".chart canvas")).toBeVisible();
  await snapshot(page, "assessment");

  // The unit's score, rule by rule.
  await unit.getByRole("button", { name: "查看计分" }).click();
  const drawer = page.getByRole("dialog", { name: /计分明细 · 宁国市司法局/ });
  await expect(drawer.getByText(/得分 \d/)).toBeVisible();
  expect(await drawer.locator(".el-table__row").count()).toBeGreaterThan(0);
  await snapshot(page, "score-trace");
  await drawer.getByRole("button", { name: /关闭|Close/ }).click();

  await page.getByRole("button", { name: "发布结果" }).click();
  await expect(page.getByText(/已发布：整改事项 \d+ 项/)).toBeVisible();
  // The bulletin (通报) as a spreadsheet with its Chinese name.
  const download = page.waitForEvent("download");
  await page.getByRole("button", { name: "下载通报" }).click();
  expect((await download).suggestedFilename()).toMatch(/通报\.xlsx$/);
  await page.getByRole("menuitem", { name: "整改台账" }).click();
  await expect(page.locator(".el-table__row", { hasText: "宁国市司法局" }).first()).toBeVisible();
  await snapshot(page, "rectification-ledger");

  await page.getByRole("button", { name: "退出" }).click();
  await signInAs(page, "宁国市司法局 工作人员");
  await page.getByRole("menuitem", { name: "整改事项" }).click();
  await expect(page.getByRole("heading", { name: "本单位整改事项" })).toBeVisible();
  const item = page.locator(".el-table__row", { hasText: "待整改" }).first();
  await expect(item).toBeVisible();
  await snapshot(page, "unit-rectification");

  // Its own score in the published round, with the trace, and no other unit's.
  await page.getByRole("menuitem", { name: "本单位考核" }).click();
  await expect(page.getByRole("heading", { name: /本单位考核 · 宁国市司法局/ })).toBeVisible();
  await expect(page.locator(".trace .el-table__row").first()).toBeVisible();
  await expect(page.getByText("宁国市公安局")).toHaveCount(0);
  await snapshot(page, "unit-scores");
  // It disputes the first line's score (申诉): the reason is required.
  const line = page.locator(".trace .el-table__row").first();
  const criterion = (await line.locator("td").first().innerText()).trim();
  await line.getByRole("button", { name: "申诉" }).click();
  const appealDialog = page.getByRole("dialog", { name: "申诉" });
  await appealDialog.getByRole("button", { name: "提交申诉" }).click();
  await expect(appealDialog.getByText("请填写申诉理由")).toBeVisible();
  await appealDialog.getByLabel("申诉理由").fill("本年度出庭应诉数据已于12月补报，请复核。");
  await appealDialog.getByRole("button", { name: "提交申诉" }).click();
  await expect(page.getByText(`已提出申诉：指标 ${criterion}`)).toBeVisible();
  await expect(line.getByText("待处理")).toBeVisible();
  await page.getByRole("menuitem", { name: "整改事项" }).click();

  // The unit takes it up and reports it done; the office closes it (销号).
  const problem = (await item.locator("td").first().innerText()).split("\n")[0].trim();
  await item.getByRole("button", { name: "整改" }).click();
  const takeUp = page.getByRole("dialog", { name: "整改" });
  await takeUp.getByLabel("整改措施").fill("对照问题清单逐项整改，建立长效机制。");
  await takeUp.getByLabel("责任人").fill("法治督察科 李科长");
  await takeUp.getByRole("button", { name: "提交" }).click();
  await expect(page.getByText("已开始整改")).toBeVisible();
  const inProgress = page.locator(".el-table__row", { hasText: problem }).filter({ hasText: "整改中" });
  await inProgress.getByRole("button", { name: "报送销号" }).click();
  const submit = page.getByRole("dialog", { name: "报送销号" });
  await submit.getByRole("button", { name: "提交" }).click();
  await expect(submit.getByText("请填写至少一个佐证材料链接")).toBeVisible();
  await submit.getByLabel("佐证材料").fill("https://www.ningguo.gov.cn/zfxxgk/zhenggai-2024.html");
  await submit.getByRole("button", { name: "提交" }).click();
  await expect(page.getByText("已报送销号")).toBeVisible();

  await page.getByRole("button", { name: "退出" }).click();
  await signInAs(page, "宁国市人民政府 协调员（依法治市办）");
  await page.getByRole("menuitem", { name: "整改台账" }).click();
  const submitted = page.locator(".el-table__row", { hasText: problem }).filter({ hasText: "已报送" }).first();
  await submitted.getByRole("button", { name: "销号" }).click();
  await expect(page.getByText("已销号", { exact: true }).first()).toBeVisible();

  // The office upholds the appeal, with its reasons.
  await page.getByRole("menuitem", { name: "考核" }).click();
  const appealRow = page.locator(".el-table__row", { hasText: "本年度出庭应诉数据已于12月补报" });
  await appealRow.getByRole("button", { name: "维持" }).click();
  const opinion = page.getByRole("dialog", { name: "维持原分" });
  await opinion.getByRole("textbox").fill("补报数据未经审核，维持原分。");
  await opinion.getByRole("button", { name: /确定|OK/ }).click();
  await expect(page.getByText("申诉已处理")).toBeVisible();
  await expect(appealRow.getByText("维持原分")).toBeVisible();
});

test("the coordinator records a supervision step about a unit", async ({ page }) => {
  await signInAs(page, "宁国市人民政府 协调员（依法治市办）");
  await page.getByRole("menuitem", { name: "督察" }).click();
  await expect(page.getByRole("heading", { name: "督察记录" })).toBeVisible();
  await page.getByRole("button", { name: "记录督察" }).click();
  const dialog = page.getByRole("dialog", { name: "记录督察" });
  await dialog.getByRole("button", { name: "记录", exact: true }).click();
  await expect(dialog.getByText("请选择被督察单位")).toBeVisible();
  await dialog.getByLabel("被督察单位").click();
  await page.getByRole("option", { name: "宁国市司法局", exact: true }).click();
  await dialog.getByLabel("督察发现").fill("行政机关负责人出庭应诉率低于目标。");
  await dialog.getByLabel("整改要求").fill("一个月内提交整改方案。");
  await dialog.getByRole("button", { name: "记录", exact: true }).click();
  await expect(page.getByText("已记录：约谈")).toBeVisible();
  const row = page.locator(".el-table__row", { hasText: "宁国市司法局" }).filter({ hasText: "出庭应诉率" });
  await expect(row.getByText("约谈")).toBeVisible();
  await snapshot(page, "supervision");
});

test("a leader sees the region at a glance", async ({ page }) => {
  await signInAs(page, "宁国市人民政府 领导（查阅）");
  await expect(page).toHaveURL(/\/console\/overview$/);
  await expect(page.getByRole("heading", { name: /法治建设概览 · 宁国市人民政府/ })).toBeVisible();
  for (const chart of ["目标达标率趋势", "实施方案任务推进", "考核排名", "任务进度热力图"]) {
    await expect(page.getByRole("img", { name: chart }).locator("canvas").first()).toBeVisible();
  }
  await expect(page.getByText("任务完成率")).toBeVisible();
  await expect(page.locator(".light.red").first()).toBeVisible();
  await snapshot(page, "overview", true);
  // The traffic lights of another year, and the heat map of any published plan of the region.
  // An Element Plus select is opened on its box: the shown value lies over the input.
  const choose = (label: string) => page.locator(".el-select", { has: page.getByRole("combobox", { name: label }) }).click();
  await choose("期间");
  await page.getByRole("option", { name: String(new Date().getFullYear() - 3), exact: true }).click();
  await expect(page.getByText(`指标达标情况（${new Date().getFullYear() - 3}，红灯单位在前）`)).toBeVisible();
  await choose("实施方案");
  const plan = page.getByRole("option", { name: /宁国市/ }).first();
  await expect(plan).toBeVisible();
  await plan.click();
  await expect(page.getByRole("img", { name: "任务进度热力图" }).locator("canvas").first()).toBeVisible();
  // Leaders read: no work pages in their menu.
  await expect(page.getByRole("menuitem", { name: "数据填报" })).toHaveCount(0);
});

test("a unit assesses itself and the office adjusts the score", async ({ page }) => {
  // 自查自评: the unit scores itself on a criterion, with its reasons; the reasons are required.
  await signInAs(page, "宁国市司法局 工作人员");
  await page.getByRole("menuitem", { name: "自查自评" }).click();
  await expect(page.getByRole("heading", { name: /自查自评 · 宁国市司法局/ })).toBeVisible();
  const criterion = page.locator(".criteria .el-table__row", { hasText: "1.1 行政机关负责人出庭应诉" });
  await expect(criterion.getByText("未自评")).toBeVisible();
  await criterion.getByRole("button", { name: "自评" }).click();
  const scoring = page.getByRole("dialog", { name: "自评" });
  await scoring.getByRole("button", { name: "提交自评" }).click();
  await expect(scoring.getByText("请填写自评理由")).toBeVisible();
  await scoring.getByLabel("自评分").fill("13");
  await scoring.getByLabel("自评理由").fill("负责人出庭应诉率达到62%，高于50%的目标。");
  await scoring.getByLabel("发现的问题").fill("乡镇负责人出庭应诉仍不均衡。");
  await scoring.getByRole("button", { name: "提交自评" }).click();
  await expect(page.getByText("已提交自评：指标 1.1")).toBeVisible();
  await expect(criterion.getByText("待审核")).toBeVisible();
  await expect(criterion.getByText("13", { exact: true })).toBeVisible();
  await expect(scoring).toBeHidden();
  await snapshot(page, "self-assessment");

  // The office sees it and decides another score, with its opinion (required).
  await page.getByRole("button", { name: "退出" }).click();
  await signInAs(page, "宁国市人民政府 协调员（依法治市办）");
  await page.getByRole("menuitem", { name: "自评审核" }).click();
  const submitted = page
    .locator(".submitted .el-table__row", { hasText: "宁国市司法局" })
    .filter({ hasText: "负责人出庭应诉率达到62%" });
  await expect(submitted.getByText("待审核")).toBeVisible();
  await submitted.getByRole("button", { name: "调整" }).click();
  const review = page.getByRole("dialog", { name: "调整得分" });
  await review.getByLabel("审定分").fill("11");
  await review.getByRole("button", { name: "确定" }).click();
  await expect(review.getByText("请填写审核意见")).toBeVisible();
  await review.getByLabel("审核意见").fill("出庭率经核实为58%，按细则扣减。");
  await review.getByRole("button", { name: "确定" }).click();
  await expect(page.getByText("自评已审核：宁国市司法局 指标 1.1")).toBeVisible();
  await expect(submitted.getByText("已调整")).toBeVisible();
  // The problems it found are now on the ledger.
  await expect(submitted.getByText("已列入整改台账")).toBeVisible();
  await expect(review).toBeHidden();
  await snapshot(page, "self-assessment-review");

  // The unit reads the decided score; a decided self-assessment is not changed again.
  await page.getByRole("button", { name: "退出" }).click();
  await signInAs(page, "宁国市司法局 工作人员");
  await page.getByRole("menuitem", { name: "自查自评" }).click();
  await expect(criterion.getByText("已调整")).toBeVisible();
  await expect(criterion.getByText("11", { exact: true })).toBeVisible();
  await expect(criterion.getByRole("button")).toHaveCount(0);
});
