import { describe, expect, it } from 'vitest'
import { Redactor } from './redact.js'

describe('Redactor', () => {
  it('masks registered values, their URL-encoded form and credential-shaped text', () => {
    const r = new Redactor()
    r.add('p@ss/word!')
    r.add('abc') // too short to mask safely
    expect(r.redact('login p@ss/word! and p%40ss%2Fword! and abc')).toBe('login *** and *** and abc')
    expect(r.redact('Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.x.y')).toBe('Authorization: ***')
    expect(r.redact('sent "Token 0123456789abcdef"')).toBe('sent "Token ***"')
    expect(r.redact('{"password":"hunter2hunter2"}')).toBe('{"password":"***"}')
  })

  it('redacts every string of a record, keeping its shape', () => {
    const r = new Redactor()
    r.add('canary-1234')
    expect(r.redactValue({ a: 'x canary-1234', b: [1, 'canary-1234'], c: { d: true } })).toEqual({ a: 'x ***', b: [1, '***'], c: { d: true } })
  })
})
