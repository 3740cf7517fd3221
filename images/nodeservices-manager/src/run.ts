// Entry point of the esbuild bundle (images/build.ts): the program is main.ts.
import { main } from "./main";

void main();
