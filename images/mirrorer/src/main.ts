// Entry point: see program.ts.
import { main } from "./program";

void main(process.argv.slice(2));
