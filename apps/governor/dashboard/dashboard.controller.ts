import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Controller, Get, Param, Res } from '@nestjs/common';
import type { Response } from 'express';
import { ApiProblem } from '../../../libs/platform/problem.js';
import { Audience } from '../http/auth.guard.js';

// The FinOps dashboard is three static files served as they are: no build step, no CDN.
// The compiler does not copy them to dist/, so they are read from the source folder, which
// sits at the same place relative to the repository root whether this runs from dist/ or not.

const here = dirname(fileURLToPath(import.meta.url));
const candidates = [here, resolve(here, '..', '..', '..', '..', 'apps', 'governor', 'dashboard')];
const ASSETS: Record<string, string> = { 'index.html': 'text/html; charset=utf-8', 'dashboard.js': 'text/javascript; charset=utf-8', 'dashboard.css': 'text/css; charset=utf-8' };

/** Read once at first use: the files are small and fixed for the life of the process. */
const cache = new Map<string, Buffer>();

function asset(name: string): Buffer {
  const cached = cache.get(name);
  if (cached !== undefined) return cached;
  for (const folder of candidates) {
    try {
      const content = readFileSync(join(folder, name));
      cache.set(name, content);
      return content;
    } catch {
      // Try the next folder.
    }
  }
  throw new ApiProblem('dashboard_missing', `dashboard file ${name} is missing from apps/governor/dashboard; reinstall or rebuild Paybound`);
}

@Controller('dashboard')
@Audience('public')
export class DashboardController {
  /** The page itself holds no data: it asks for the admin token and reads the admin API with it. */
  @Get()
  page(@Res() response: Response): void {
    send(response, 'index.html');
  }

  @Get(':file')
  file(@Param('file') file: string, @Res() response: Response): void {
    if (!Object.hasOwn(ASSETS, file) || file === 'index.html') throw new ApiProblem('not_found', 'no such dashboard file');
    send(response, file);
  }
}

function send(response: Response, name: string): void {
  const contentType = ASSETS[name] ?? 'application/octet-stream';
  response.setHeader('Content-Type', contentType);
  // Only this origin's own script and API; no inline code, no third parties, no framing.
  response.setHeader('Content-Security-Policy', "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'");
  response.setHeader('X-Content-Type-Options', 'nosniff');
  response.setHeader('Referrer-Policy', 'no-referrer');
  response.setHeader('Cache-Control', 'no-cache');
  response.status(200).send(asset(name));
}
