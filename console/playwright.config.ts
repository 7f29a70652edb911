import { defineConfig } from "@playwright/test";

// Runs against a running `fazhi dev` (tests/e2e/run.py starts it and sets FAZHI_GATEWAY) in
// Debian's Chromium (CHROMIUM, by default /usr/bin/chromium), at the smallest screen the console
// is made for.
export default defineConfig({
  testDir: "tests",
  timeout: 90_000,
  workers: 1,
  reporter: [["list"]],
  outputDir: "test-results/runs",
  use: {
    baseURL: process.env.FAZHI_GATEWAY ?? "http://127.0.0.1:50052",
    viewport: { width: 1366, height: 768 },
    locale: "zh-CN",
    launchOptions: { executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium" },
    screenshot: "only-on-failure",
    trace: "retain-on-failure",
  },
});
