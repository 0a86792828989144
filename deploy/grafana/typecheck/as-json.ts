// A schema type as JSON holds it: @grafana/schema declares some fields as
// TypeScript string enums (ThresholdsMode.Absolute = "absolute"), which a
// string literal from a JSON file is not assignable to; `${E}` is the union of
// the enum's string values. Everything else (required fields, unknown keys,
// literal types) is checked unchanged.
export type AsJson<T> = T extends string
  ? `${T}`
  : T extends ReadonlyArray<infer U>
    ? AsJson<U>[]
    : T extends object
      ? { [K in keyof T]: AsJson<T[K]> }
      : T;
