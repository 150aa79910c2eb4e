/** Chromium for the browser tests: Debian's package, never a browser downloaded from npm. */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/**
 * Launch Debian's chromium headless. When it is missing the calling test fails with how to
 * install it (CI's .ci/run installs it with apt).
 */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`the browser tests need Debian's chromium at ${CHROMIUM}: install it with 'apt-get update && apt-get install -y chromium' (.ci/run does so when it is missing)`);
  }
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
}
