// The node steps' Handlebars templates (templates/ beside this file), compiled with the module's
// helpers and options by lib/templates' development loader. They stand in for the registry steps
// of Deckhouse's bashible and are not part of the hooks executable (docs/adr/0135).
import { fileURLToPath } from "node:url";
import type Handlebars from "handlebars";
import { TemplateError } from "../../../lib/templates";
import { loadTemplates } from "../../../lib/templates/compiled";

export const STEP_TEMPLATES_DIR = fileURLToPath(new URL("./templates", import.meta.url));

let templates: Record<string, Handlebars.TemplateDelegate> | undefined;

/** Template name = path under templates/ without `.hbs`, e.g. `steps/registry-proxy.sh`. */
export function renderStepTemplate(name: string, context: unknown): string {
  templates ??= loadTemplates(STEP_TEMPLATES_DIR);
  const template = templates[name];
  if (!template) throw new TemplateError(`no node step template "${name}"`);
  try {
    return template(context);
  } catch (err) {
    throw new TemplateError(`template "${name}": ${(err as Error).message}`);
  }
}
