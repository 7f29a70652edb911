// Validates the custom resources of rendered manifests (CloudNativePG) against the operator's CRD
// schemas, offline: types, formats, enums and required fields with the schema validators of
// @kubernetes-models/cloudnative-pg, unknown fields with TypeScript's excess-property check on
// the same package's types (the CRD schemas allow unknown fields; the API server would drop
// them silently). Kubernetes' own kinds are checked by kubernetes-validate (scripts/check-deploy).
//
// Usage: node validate.mjs rendered.yaml…

import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import yaml from "js-yaml";
import { Cluster } from "@kubernetes-models/cloudnative-pg/postgresql.cnpg.io/v1/Cluster";
import { ScheduledBackup } from "@kubernetes-models/cloudnative-pg/postgresql.cnpg.io/v1/ScheduledBackup";

const here = path.dirname(fileURLToPath(import.meta.url));
const MODELS = {
  "postgresql.cnpg.io/v1/Cluster": { model: Cluster, type: "ICluster" },
  "postgresql.cnpg.io/v1/ScheduledBackup": { model: ScheduledBackup, type: "IScheduledBackup" },
};
// Kubernetes' own API groups: kubernetes-validate's to check.
const isBuiltIn = (apiVersion) => !apiVersion.includes(".") || apiVersion.includes(".k8s.io/");

const failures = [];
const declarations = [];
const imports = new Set();
let checked = 0;
for (const file of process.argv.slice(2)) {
  for (const document of yaml.loadAll(fs.readFileSync(file, "utf8"))) {
    if (!document) continue;
    const key = `${document.apiVersion}/${document.kind}`;
    const where = `${file}: ${key} ${document.metadata?.name}`;
    if (isBuiltIn(document.apiVersion)) continue;
    const known = MODELS[key];
    if (!known) {
      failures.push(`${where}: no schema here for this custom resource; add its model to validate.mjs`);
      continue;
    }
    try {
      new known.model(document).validate();
    } catch (error) {
      failures.push(`${where}: ${error.message}`);
    }
    const module = `@kubernetes-models/cloudnative-pg/${document.apiVersion}/${document.kind}`;
    imports.add(`import type { ${known.type} } from "${module}";`);
    declarations.push(`// ${where}\nexport const resource${checked}: ${known.type} = ${JSON.stringify(document, null, 2)};`);
    checked += 1;
  }
}

if (declarations.length > 0) {
  const checkDirectory = fs.mkdtempSync(path.join(here, ".check-"));
  const source = path.join(checkDirectory, "manifests.ts");
  fs.writeFileSync(source, [...imports, ...declarations].join("\n") + "\n");
  try {
    execFileSync(
      path.join(here, "node_modules/.bin/tsc"),
      ["--noEmit", "--strict", "--skipLibCheck", "--module", "nodenext", "--moduleResolution", "nodenext", "--target", "es2022", source],
      { cwd: here, encoding: "utf8", stdio: "pipe" },
    );
  } catch (error) {
    failures.push(`unknown or mistyped fields:\n${error.stdout}${error.stderr}`);
  } finally {
    fs.rmSync(checkDirectory, { recursive: true, force: true });
  }
}

if (failures.length > 0) {
  console.error(failures.join("\n"));
  process.exit(1);
}
console.log(`${checked} custom resources valid against the CloudNativePG schemas`);
