import { readFileSync } from 'node:fs';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Controller, Get, Param, Res } from '@nestjs/common';
import type { Response } from 'express';
import { ApiProblem } from '../../../libs/platform/problem.js';
import { Audience } from '../http/auth.guard.js';

// The operators' console is built from apps/console by `npm run build` into dist/console; this
// serves that folder. It sits at the same place relative to the repository whether this file
// runs from dist/ or from the sources (as in tests), so both places are tried.

const here = dirname(fileURLToPath(import.meta.url));
const BUILD_FOLDERS = [resolve(here, '..', '..', '..', 'console'), resolve(here, '..', '..', '..', 'dist', 'console')];

/** Only what the build writes: hashed bundle names with known types, never a path. */
const ASSET_NAME = /^[A-Za-z0-9_-]{1,100}\.(js|css)$/;
const CONTENT_TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8' };
/** Files the build names by their content never change, so browsers may keep them for a year. */
const HASHED_ASSET_MAX_AGE_S = 31_536_000;

/** Read once at first use: the files are small and fixed for the life of the process. */
const cache = new Map<string, Buffer>();

function builtFile(relativePath: string): Buffer {
  const cached = cache.get(relativePath);
  if (cached !== undefined) return cached;
  for (const folder of BUILD_FOLDERS) {
    try {
      const content = readFileSync(join(folder, relativePath));
      cache.set(relativePath, content);
      return content;
    } catch {
      // Try the next folder.
    }
  }
  if (relativePath === 'index.html') throw new ApiProblem('dashboard_missing', 'the console is not built: run npm run build (it writes dist/console)');
  throw new ApiProblem('not_found', 'no such dashboard file');
}

@Controller('dashboard')
@Audience('public')
export class DashboardController {
  /** The page itself holds no data: it asks for the admin token and reads the admin API with it. */
  @Get()
  page(@Res() response: Response): void {
    send(response, 'index.html', 'no-cache');
  }

  @Get('assets/:file')
  asset(@Param('file') file: string, @Res() response: Response): void {
    if (!ASSET_NAME.test(file)) throw new ApiProblem('not_found', 'no such dashboard file');
    send(response, `assets/${file}`, `public, max-age=${HASHED_ASSET_MAX_AGE_S}, immutable`);
  }
}

function send(response: Response, relativePath: string, cacheControl: string): void {
  const content = builtFile(relativePath);
  response.setHeader('Content-Type', CONTENT_TYPES[extname(relativePath)] ?? 'application/octet-stream');
  // Only this origin's own scripts and API; no inline code, no third parties, no framing.
  response.setHeader('Content-Security-Policy', "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'");
  response.setHeader('X-Content-Type-Options', 'nosniff');
  response.setHeader('Referrer-Policy', 'no-referrer');
  response.setHeader('Cache-Control', cacheControl);
  response.status(200).send(content);
}
