// Display names of units and unit groups, fetched once each and shared by every page.
import { reactive } from "vue";
import { units } from "./api";

const names = reactive(new Map<string, string>());
const asked = new Set<string>();

/** 宁国市司法局 for `units/ng-sfj`, 乡(镇、街道) for `unitGroups/townships`; the name itself
 * until the answer comes. */
export function unitName(name: string): string {
  if (!asked.has(name)) {
    asked.add(name);
    lookUp(name)
      .then((displayName) => names.set(name, displayName || name))
      .catch(() => names.set(name, name));
  }
  return names.get(name) ?? name;
}

async function lookUp(name: string): Promise<string> {
  if (name.startsWith("units/")) return (await units.getUnit({ name })).unit?.displayName ?? "";
  if (name.startsWith("unitGroups/")) return (await units.getUnitGroup({ name })).unitGroup?.displayName ?? "";
  return name;
}
