#!/usr/bin/env node
// Runs the TypeScript sources directly (Node >= 22.18 strips types).
import "../src/cli.ts";
