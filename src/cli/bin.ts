#!/usr/bin/env node
/** The `vfio-sim` executable (package.json "bin"): always runs the command line. */
import { runCli } from './main.js';

runCli();
