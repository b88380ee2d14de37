import type { Clock } from '../time/index.ts';
import { col, type Row, type SqlDriver } from './driver.ts';
import type { TemplateRepository } from './port.ts';
import type { Template, TemplateContent, TemplateInput } from './types.ts';

const COLUMNS = 'name, default_locale, locales, version, created_at, updated_at';

function toTemplate(r: Row): Template {
  return {
    name: col.str(r['name']),
    defaultLocale: col.str(r['default_locale']),
    locales: col.json<Record<string, TemplateContent>>(r['locales']),
    version: col.num(r['version']),
    createdAt: col.num(r['created_at']),
    updatedAt: col.num(r['updated_at']),
  };
}

/** Localized notification templates (`PUT /v1/templates/{name}`); parsing them is the caller's job. */
export class SqlTemplateRepository implements TemplateRepository {
  readonly #db: SqlDriver;
  readonly #clock: Clock;

  constructor(db: SqlDriver, clock: Clock) {
    this.#db = db;
    this.#clock = clock;
  }

  async put(t: TemplateInput): Promise<Template> {
    const now = this.#clock.now();
    const row = await this.#db.get(
      `INSERT INTO templates (${COLUMNS}) VALUES (?, ?, ?, 1, ?, ?)
        ON CONFLICT (name) DO UPDATE SET default_locale = excluded.default_locale, locales = excluded.locales,
          version = templates.version + 1, updated_at = excluded.updated_at
        RETURNING ${COLUMNS}`,
      [t.name, t.defaultLocale, JSON.stringify(t.locales), now, now],
    );
    return toTemplate(row!);
  }

  async get(name: string): Promise<Template | null> {
    const row = await this.#db.get(`SELECT ${COLUMNS} FROM templates WHERE name = ?`, [name]);
    return row ? toTemplate(row) : null;
  }

  async list(): Promise<Template[]> {
    return (await this.#db.all(`SELECT ${COLUMNS} FROM templates ORDER BY name`)).map(toTemplate);
  }

  async delete(name: string): Promise<boolean> {
    return (await this.#db.run('DELETE FROM templates WHERE name = ?', [name])) > 0;
  }
}
