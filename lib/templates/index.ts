// Rendering the module's Handlebars templates by name.
import { loadTemplates } from "./compiled";

export class TemplateError extends Error {
  override name = "TemplateError";
}

export function templateNames(): string[] {
  return Object.keys(loadTemplates()).sort();
}

export function renderTemplate(name: string, context: unknown): string {
  const template = loadTemplates()[name];
  if (!template)
    throw new TemplateError(`no template "${name}" (have: ${templateNames().join(", ")})`);
  try {
    return template(context);
  } catch (err) {
    throw new TemplateError(`template "${name}": ${(err as Error).message}`);
  }
}
