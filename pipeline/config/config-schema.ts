import { Config } from './codec.js';
import { type JsonSchema, jsonSchemaOf } from './json-schema.js';

let schema: JsonSchema | undefined;

/** The config's JSON Schema, generated from its codec once per process (`schema` prints it). */
export const configSchema = (): JsonSchema => {
  schema ??= jsonSchemaOf(Config, 'qualtrics-automations config');
  return schema;
};
