// Entry point: see program.ts.
import { main } from "./program";

void main();
