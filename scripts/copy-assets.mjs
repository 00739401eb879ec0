#!/usr/bin/env node
// `npm run build`, after tsc: copies the dashboard's static files beside the compiled HTTP app
// (src/hosts/http/public -> dist/hosts/http/public), where dashboard.ts serves them from.
import { cpSync, rmSync } from 'node:fs';

rmSync('dist/hosts/http/public', { recursive: true, force: true });
cpSync('src/hosts/http/public', 'dist/hosts/http/public', { recursive: true });
