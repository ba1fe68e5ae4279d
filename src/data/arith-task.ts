/**
 * A synthetic multi-step arithmetic word-problem task in GSM8K's exact format.
 *
 * Every problem is a chain: a starting amount, then 1–N operations, each applied to the previous
 * result. The solution has one line per operation with a calculator annotation
 * (`12 * 3 = <<12*3=36>>36 marbles.`) and ends with `#### 36`, so {@link loadGsm8k} reads the
 * generated files unchanged. Everything is deterministic given the seed.
 *
 * Numbers are planned backwards so every division is exact: before a division by d the running
 * value must be a multiple of d, which additions/subtractions arrange by choosing their operand.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeTextAtomic } from '../util/atomic-write';
import { deriveSeed, mulberry32, randomChoice, randomInt } from './random';

export type ArithOperation = '+' | '-' | '*' | '/';
export const ARITH_OPERATIONS: readonly ArithOperation[] = ['+', '-', '*', '/'];

export interface ArithDifficulty {
  /** Fewest operations (annotated solution lines) per problem, ≥ 1. */
  minSteps: number;
  /** Most operations per problem, ≤ {@link MAX_ARITH_STEPS}. */
  maxSteps: number;
  /** Most digits of any number given in the question (the starting amount and every operand). */
  maxDigits: number;
  operations: readonly ArithOperation[];
  /** Upper bound on every intermediate result and the final answer. */
  maxResult: number;
  /**
   * Operations per written solution line (1: every intermediate result is written). With 2, a line
   * computes `(a op b) op c` in one annotation and its intermediate `a op b` is never written, so the
   * model has to carry it internally: a single forward pass must do two operations, extra passes
   * (latents) could do one each.
   */
  stepsPerLine: number;
}

export const MAX_ARITH_STEPS = 8;
const MAX_ARITH_DIGITS = 6;
/** Every number in a problem is at least 2, which keeps nouns plural and steps non-trivial. */
const MIN_VALUE = 2;
const ATTEMPTS_PER_PROBLEM = 2000;

export const DEFAULT_ARITH_DIFFICULTY: Readonly<ArithDifficulty> = Object.freeze({
  minSteps: 1,
  maxSteps: 4,
  maxDigits: 2,
  operations: ARITH_OPERATIONS,
  maxResult: 1_000_000,
  stepsPerLine: 1,
});

export interface ArithStep {
  left: number;
  operation: ArithOperation;
  right: number;
  result: number;
}

export interface ArithProblem {
  question: string;
  /** GSM8K-style solution: one annotated line per step, then `#### answer`. */
  answer: string;
  steps: ArithStep[];
  finalAnswer: number;
}

// ---------------------------------------------------------------------------------------------
// Vocabulary and templates
// ---------------------------------------------------------------------------------------------

interface Person {
  name: string;
  pronoun: 'she' | 'he';
}

const PEOPLE: readonly Person[] = [
  ...['Mira', 'Lena', 'Tova', 'Priya', 'Ines', 'Keiko', 'Ruth', 'Amara', 'Sofia', 'Yara', 'Greta', 'Nadia', 'Hana', 'Elif'].map(
    (name): Person => ({ name, pronoun: 'she' }),
  ),
  ...[
    'Omar',
    'Felix',
    'Tariq',
    'Bruno',
    'Kenji',
    'Mateo',
    'Arlo',
    'Idris',
    'Milan',
    'Rafael',
    'Soren',
    'Dev',
    'Luca',
    'Jonah',
  ].map((name): Person => ({ name, pronoun: 'he' })),
];

/** Everything a template may mention, with pronouns already resolved. */
interface StoryContext {
  name: string;
  /** Subject pronoun, lower and capitalized: she / She. */
  pron: string;
  Pron: string;
  /** Object pronoun: her / him. */
  obj: string;
  /** Possessive determiner: her / his. */
  poss: string;
  friend: string;
  /** Plural noun of the counted things (unused by the money theme). */
  noun: string;
  /** Singular of `noun`. */
  singular: string;
  adjective: string;
  /** Something to buy (money theme). */
  thing: string;
}

interface StepTemplate {
  /** Sentence of the question introducing the operand. */
  question: (c: StoryContext, operand: number) => string;
  /** Solution line; `work` is `"12 + 5 = <<12+5=17>>17 marbles"`. */
  solution: (c: StoryContext, work: string) => string;
}

interface Theme {
  /** [singular, plural] of the counted things; empty for money. */
  nouns: readonly (readonly [string, string])[];
  /** Money amounts are written `$12`, counts `12 marbles`. */
  money: boolean;
  openings: readonly ((c: StoryContext, amount: number) => string)[];
  steps: Readonly<Record<ArithOperation, readonly StepTemplate[]>>;
  closings: readonly ((c: StoryContext) => string)[];
}

const ADJECTIVES = ['shiny', 'striped', 'speckled', 'rare', 'golden'];
const THINGS = ['board game', 'bike helmet', 'pair of boots', 'telescope', 'concert ticket', 'backpack', 'kite'];

const COLLECTION_THEME: Theme = {
  nouns: [
    ['marble', 'marbles'],
    ['sticker', 'stickers'],
    ['seashell', 'seashells'],
    ['trading card', 'trading cards'],
    ['glass bead', 'glass beads'],
    ['stamp', 'stamps'],
    ['pebble', 'pebbles'],
    ['button', 'buttons'],
    ['postcard', 'postcards'],
    ['feather', 'feathers'],
    ['paper crane', 'paper cranes'],
    ['bottle cap', 'bottle caps'],
  ],
  money: false,
  openings: [
    (c, a) => `${c.name} has ${a} ${c.noun}.`,
    (c, a) => `${c.name} keeps ${a} ${c.noun} in a shoebox.`,
    (c, a) => `${c.name} starts a collection with ${a} ${c.noun}.`,
  ],
  steps: {
    '+': [
      {
        question: (c, b) => `${c.Pron} finds ${b} more at a yard sale.`,
        solution: (c, w) => `After the yard sale, ${c.pron} has ${w}.`,
      },
      {
        question: (c, b) => `${c.friend} gives ${c.obj} ${b} ${c.noun} for ${c.poss} birthday.`,
        solution: (c, w) => `With the birthday gift, ${c.pron} has ${w}.`,
      },
      {
        question: (c, b) => `${c.Pron} buys a pack of ${b} ${c.noun}.`,
        solution: (c, w) => `Adding the pack, ${c.pron} has ${w}.`,
      },
    ],
    '-': [
      {
        question: (c, b) => `${c.Pron} gives ${b} ${c.noun} to ${c.friend}.`,
        solution: (c, w) => `After giving some to ${c.friend}, ${c.pron} has ${w}.`,
      },
      {
        question: (c, b) => `${c.Pron} loses ${b} of them on the bus.`,
        solution: (c, w) => `After the bus ride, ${c.pron} has ${w}.`,
      },
      {
        question: (c, b) => `${c.Pron} trades away ${b} of ${c.poss} ${c.noun}.`,
        solution: (c, w) => `After the trade, ${c.pron} has ${w}.`,
      },
    ],
    '*': [
      {
        question: (_c, b) => `Over the summer the collection grows to ${b} times its size.`,
        solution: (_c, w) => `The collection grows to ${w}.`,
      },
      {
        question: (c, b) => `${c.friend} swaps ${c.obj} ${b} ${c.noun} for each one ${c.pron} has.`,
        solution: (c, w) => `After the swap, ${c.pron} has ${w}.`,
      },
      {
        question: (c, b) => `By winter ${c.pron} has ${b} times as many ${c.noun} as before.`,
        solution: (c, w) => `By winter ${c.pron} has ${w}.`,
      },
    ],
    '/': [
      {
        question: (c, b) => `${c.Pron} splits the ${c.noun} into ${b} equal piles and keeps just one pile.`,
        solution: (_c, w) => `One pile has ${w}.`,
      },
      {
        question: (c, b) => `${c.Pron} packs them equally into ${b} boxes and gives away every box but one.`,
        solution: (c, w) => `The box ${c.pron} keeps holds ${w}.`,
      },
      {
        question: (c, b) =>
          `Only one in every ${b} ${c.noun} is ${c.adjective}, and ${c.pron} keeps only the ${c.adjective} ones.`,
        solution: (c, w) => `${c.Pron} keeps ${w}.`,
      },
    ],
  },
  closings: [
    (c) => `How many ${c.noun} does ${c.name} have now?`,
    (c) => `How many ${c.noun} are in ${c.name}'s collection at the end?`,
    (c) => `How many ${c.noun} does ${c.name} end up with?`,
  ],
};

const HARVEST_THEME: Theme = {
  nouns: [
    ['apple', 'apples'],
    ['pear', 'pears'],
    ['plum', 'plums'],
    ['tomato', 'tomatoes'],
    ['lemon', 'lemons'],
    ['peach', 'peaches'],
    ['carrot', 'carrots'],
    ['potato', 'potatoes'],
    ['cucumber', 'cucumbers'],
    ['pepper', 'peppers'],
  ],
  money: false,
  openings: [
    (c, a) => `${c.name} picks ${a} ${c.noun} from ${c.poss} garden.`,
    (c, a) => `${c.name} has a basket with ${a} ${c.noun}.`,
    (c, a) => `${c.name}'s garden gives ${a} ${c.noun} in the first week.`,
  ],
  steps: {
    '+': [
      {
        question: (c, b) => `The next day ${c.pron} picks ${b} more.`,
        solution: (c, w) => `After the second picking, ${c.pron} has ${w}.`,
      },
      {
        question: (c, b) => `A neighbor brings over ${b} ${c.noun}.`,
        solution: (c, w) => `With the neighbor's ${c.noun}, ${c.pron} has ${w}.`,
      },
      {
        question: (c, b) => `${c.Pron} buys ${b} ${c.noun} at the market.`,
        solution: (c, w) => `After the market, ${c.pron} has ${w}.`,
      },
    ],
    '-': [
      {
        question: (c, b) => `${c.Pron} cooks ${b} of them for a family dinner.`,
        solution: (c, w) => `After dinner, ${c.pron} has ${w}.`,
      },
      {
        question: (c, b) => `${c.Pron} finds ${b} bruised ${c.noun} and throws them away.`,
        solution: (c, w) => `Without the bruised ones, ${c.pron} has ${w}.`,
      },
      {
        question: (c, b) => `${c.Pron} gives ${b} ${c.noun} to ${c.friend}.`,
        solution: (c, w) => `After giving some to ${c.friend}, ${c.pron} has ${w}.`,
      },
    ],
    '*': [
      {
        question: (_c, b) => `A good rain makes the harvest ${b} times bigger.`,
        solution: (_c, w) => `After the rain, the harvest is ${w}.`,
      },
      {
        question: (c, b) => `${c.friend} trades ${c.obj} ${b} ${c.noun} for every ${c.singular} ${c.pron} has.`,
        solution: (c, w) => `After the trade, ${c.pron} has ${w}.`,
      },
      {
        question: (c, b) => `${c.Pron} plants more, and the harvest grows to ${b} times what ${c.pron} has now.`,
        solution: (_c, w) => `The harvest grows to ${w}.`,
      },
    ],
    '/': [
      {
        question: (c, b) => `${c.Pron} packs them equally into ${b} crates and keeps one crate.`,
        solution: (_c, w) => `One crate holds ${w}.`,
      },
      {
        question: (c, b) => `${c.Pron} sorts them into ${b} equal piles and sells all but one pile.`,
        solution: (_c, w) => `One pile holds ${w}.`,
      },
      {
        question: (c, b) => `Only one in every ${b} ${c.noun} is ripe, and ${c.pron} keeps just the ripe ones.`,
        solution: (c, w) => `${c.Pron} keeps ${w}.`,
      },
    ],
  },
  closings: [
    (c) => `How many ${c.noun} does ${c.name} have now?`,
    (c) => `How many ${c.noun} does ${c.name} end up with?`,
    (c) => `How many ${c.noun} are left for ${c.name} at the end?`,
  ],
};

const MONEY_THEME: Theme = {
  nouns: [],
  money: true,
  openings: [
    (c, a) => `${c.name} has $${a} in ${c.poss} wallet.`,
    (c, a) => `${c.name} saves $${a} from a summer job.`,
    (c, a) => `${c.name}'s piggy bank holds $${a}.`,
  ],
  steps: {
    '+': [
      {
        question: (c, b) => `${c.Pron} earns $${b} walking dogs.`,
        solution: (c, w) => `After walking dogs, ${c.pron} has ${w}.`,
      },
      {
        question: (c, b) => `${c.Pron} gets $${b} for ${c.poss} birthday.`,
        solution: (c, w) => `With the birthday money, ${c.pron} has ${w}.`,
      },
      {
        question: (c, b) => `${c.friend} pays back a $${b} loan.`,
        solution: (c, w) => `With the loan repaid, ${c.pron} has ${w}.`,
      },
    ],
    '-': [
      {
        question: (c, b) => `${c.Pron} spends $${b} on a ${c.thing}.`,
        solution: (c, w) => `After buying the ${c.thing}, ${c.pron} has ${w}.`,
      },
      {
        question: (c, b) => `${c.Pron} donates $${b} to the animal shelter.`,
        solution: (c, w) => `After the donation, ${c.pron} has ${w}.`,
      },
      { question: (c, b) => `A bike repair costs ${c.obj} $${b}.`, solution: (c, w) => `After the repair, ${c.pron} has ${w}.` },
    ],
    '*': [
      {
        question: (c, b) => `${c.Pron} invests it, and after a few years the money has grown to ${b} times as much.`,
        solution: (_c, w) => `The investment grows to ${w}.`,
      },
      {
        question: (c, b) => `A savings program multiplies ${c.poss} money by ${b}.`,
        solution: (c, w) => `With the savings program, ${c.pron} has ${w}.`,
      },
      {
        question: (c, b) => `${c.Pron} sells handmade cards and ends the month with ${b} times as much money.`,
        solution: (c, w) => `At the end of the month ${c.pron} has ${w}.`,
      },
    ],
    '/': [
      {
        question: (c, b) => `${c.Pron} splits the money equally into ${b} envelopes, keeps one and gives the rest away.`,
        solution: (_c, w) => `One envelope holds ${w}.`,
      },
      {
        question: (c, b) => `The money is divided equally among ${b} cousins, and ${c.name} is one of them.`,
        solution: (_c, w) => `Each cousin gets ${w}.`,
      },
      {
        question: (c, b) => `${c.Pron} keeps only 1/${b} of it and spends the rest on gifts.`,
        solution: (c, w) => `${c.Pron} keeps ${w}.`,
      },
    ],
  },
  closings: [
    (c) => `How much money does ${c.name} have now?`,
    (c) => `How many dollars does ${c.name} have at the end?`,
    (c) => `How much money is left for ${c.name} in the end?`,
  ],
};

const THEMES: readonly Theme[] = [COLLECTION_THEME, HARVEST_THEME, MONEY_THEME];

function capitalize(word: string): string {
  return word.charAt(0).toUpperCase() + word.slice(1);
}

function makeContext(random: () => number, theme: Theme): StoryContext {
  const person = randomChoice(random, PEOPLE);
  const friend = randomChoice(
    random,
    PEOPLE.filter((p) => p.name !== person.name),
  );
  const [singular, noun] = theme.nouns.length > 0 ? randomChoice(random, theme.nouns) : ['dollar', 'dollars'];
  const she = person.pronoun === 'she';
  return {
    name: person.name,
    pron: person.pronoun,
    Pron: capitalize(person.pronoun),
    obj: she ? 'her' : 'him',
    poss: she ? 'her' : 'his',
    friend: friend.name,
    noun,
    singular,
    adjective: randomChoice(random, ADJECTIVES),
    thing: randomChoice(random, THINGS),
  };
}

// ---------------------------------------------------------------------------------------------
// Number planning
// ---------------------------------------------------------------------------------------------

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

function modulo(a: number, m: number): number {
  return ((a % m) + m) % m;
}

/** Random x in [low, high] with x ≡ residue (mod modulus), or null when there is none. */
function randomCongruent(random: () => number, residue: number, modulus: number, low: number, high: number): number | null {
  const first = low + modulo(residue - low, modulus);
  if (first > high) return null;
  return first + modulus * randomInt(random, 0, Math.floor((high - first) / modulus));
}

export function applyOperation(left: number, operation: ArithOperation, right: number): number {
  switch (operation) {
    case '+':
      return left + right;
    case '-':
      return left - right;
    case '*':
      return left * right;
    case '/':
      return left / right;
  }
}

/** Divisions right before step `index`, back to the previous addition/subtraction (which resets divisibility). */
function divisionsBefore(operations: readonly ArithOperation[], index: number): number {
  let count = 0;
  for (let i = index - 1; i >= 0 && (operations[i] === '*' || operations[i] === '/'); i--) {
    if (operations[i] === '/') count++;
  }
  return count;
}

/**
 * Picks the numbers for a fixed operation sequence, or returns null when this random draw does not
 * fit the limits (the caller retries). Multiplier and divisor operands are drawn first, then the
 * divisibility each value must have is propagated backwards, then values are chosen forwards.
 */
function planNumbers(
  random: () => number,
  operations: readonly ArithOperation[],
  difficulty: ArithDifficulty,
): ArithStep[] | null {
  const maxOperand = 10 ** difficulty.maxDigits - 1;
  const count = operations.length;
  const fixedOperands: number[] = new Array(count).fill(0);
  // requiredDivisor[i]: the value before step i (i = count: the final answer) must be a multiple of it.
  const requiredDivisor: number[] = new Array(count + 1).fill(1);
  for (let i = count - 1; i >= 0; i--) {
    const after = requiredDivisor[i + 1];
    if (operations[i] === '/') {
      // Leave room for a quotient of at least MIN_VALUE and for the smallest divisor (MIN_VALUE) of
      // each earlier division in this run, which must all divide a value of at most maxOperand.
      const largestDivisor = Math.floor(maxOperand / (after * MIN_VALUE ** (1 + divisionsBefore(operations, i))));
      if (largestDivisor < MIN_VALUE) return null;
      fixedOperands[i] = randomInt(random, MIN_VALUE, largestDivisor);
      requiredDivisor[i] = fixedOperands[i] * after;
    } else if (operations[i] === '*') {
      fixedOperands[i] = randomInt(random, MIN_VALUE, maxOperand);
      requiredDivisor[i] = after / gcd(after, fixedOperands[i]);
    }
  }

  const startMultiple = requiredDivisor[0];
  if (startMultiple * Math.ceil(MIN_VALUE / startMultiple) > maxOperand) return null;
  let value = startMultiple * randomInt(random, Math.ceil(MIN_VALUE / startMultiple), Math.floor(maxOperand / startMultiple));
  const steps: ArithStep[] = [];
  for (let i = 0; i < count; i++) {
    const operation = operations[i];
    const divisorAfter = requiredDivisor[i + 1];
    let operand: number | null;
    if (operation === '+') {
      operand = randomCongruent(random, -value, divisorAfter, MIN_VALUE, maxOperand);
    } else if (operation === '-') {
      const smallestResult = Math.max(MIN_VALUE, divisorAfter);
      operand = randomCongruent(random, value, divisorAfter, MIN_VALUE, Math.min(maxOperand, value - smallestResult));
    } else {
      operand = fixedOperands[i];
    }
    if (operand === null) return null;
    const result = applyOperation(value, operation, operand);
    if (!Number.isInteger(result) || result < MIN_VALUE || result > difficulty.maxResult) return null;
    steps.push({ left: value, operation, right: operand, result });
    value = result;
  }
  return steps;
}

// ---------------------------------------------------------------------------------------------
// Generation
// ---------------------------------------------------------------------------------------------

/** Fills defaults and checks ranges, naming the offending field. */
export function resolveArithDifficulty(overrides: Partial<ArithDifficulty> = {}): ArithDifficulty {
  const difficulty: ArithDifficulty = { ...DEFAULT_ARITH_DIFFICULTY, ...stripUndefined(overrides) };
  const { minSteps, maxSteps, maxDigits, operations, maxResult, stepsPerLine } = difficulty;
  const isIntegerIn = (value: number, low: number, high: number) => Number.isInteger(value) && value >= low && value <= high;
  if (!isIntegerIn(minSteps, 1, MAX_ARITH_STEPS))
    throw new Error(`arith task: minSteps must be an integer in [1, ${MAX_ARITH_STEPS}], got ${minSteps}`);
  if (!isIntegerIn(maxSteps, minSteps, MAX_ARITH_STEPS)) {
    throw new Error(`arith task: maxSteps must be an integer in [minSteps=${minSteps}, ${MAX_ARITH_STEPS}], got ${maxSteps}`);
  }
  if (!isIntegerIn(maxDigits, 1, MAX_ARITH_DIGITS))
    throw new Error(`arith task: maxDigits must be an integer in [1, ${MAX_ARITH_DIGITS}], got ${maxDigits}`);
  if (operations.length === 0) throw new Error('arith task: operations must not be empty');
  const unknown = operations.filter((op) => !ARITH_OPERATIONS.includes(op));
  if (unknown.length > 0)
    throw new Error(`arith task: unknown operations ${JSON.stringify(unknown)}; use ${ARITH_OPERATIONS.join(' ')}`);
  if (!isIntegerIn(maxResult, MIN_VALUE, Number.MAX_SAFE_INTEGER)) {
    throw new Error(`arith task: maxResult must be an integer in [${MIN_VALUE}, ${Number.MAX_SAFE_INTEGER}], got ${maxResult}`);
  }
  if (!isIntegerIn(stepsPerLine, 1, MAX_ARITH_STEPS))
    throw new Error(`arith task: stepsPerLine must be an integer in [1, ${MAX_ARITH_STEPS}], got ${stepsPerLine}`);
  return { ...difficulty, operations: [...new Set(operations)] };
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * `12 * 3 = <<12*3=36>>36 marbles` (or `= $<<…>>36` for money); a line of several steps is written
 * `(12 * 3) + 5 = <<(12*3)+5=41>>41 marbles`, its intermediate results unwritten.
 */
function formatWork(line: readonly ArithStep[], theme: Theme, context: StoryContext): string {
  let spaced = String(line[0].left);
  let compact = spaced;
  line.forEach((step, i) => {
    const open = i < line.length - 1 ? '(' : '';
    spaced = `${open}${spaced} ${step.operation} ${step.right}${i < line.length - 1 ? ')' : ''}`;
    compact = `${open}${compact}${step.operation}${step.right}${i < line.length - 1 ? ')' : ''}`;
  });
  const result = line[line.length - 1].result;
  const annotation = `<<${compact}=${result}>>${result}`;
  const written = theme.money ? `$${annotation}` : `${annotation} ${context.noun}`;
  return `${spaced} = ${written}`;
}

/** Consecutive steps grouped into written lines of `size` (the last line may be shorter). */
function linesOf(steps: readonly ArithStep[], size: number): ArithStep[][] {
  const lines: ArithStep[][] = [];
  for (let i = 0; i < steps.length; i += size) lines.push(steps.slice(i, i + size));
  return lines;
}

/** Picks a template not used yet in this problem when one is left, so sentences rarely repeat. */
function pickFresh<T>(random: () => number, items: readonly T[], used: Set<T>): T {
  const fresh = items.filter((item) => !used.has(item));
  const choice = randomChoice(random, fresh.length > 0 ? fresh : items);
  used.add(choice);
  return choice;
}

/** One problem from a random source; `difficulty` should come from {@link resolveArithDifficulty}. */
export function generateArithProblem(random: () => number, difficulty: ArithDifficulty = DEFAULT_ARITH_DIFFICULTY): ArithProblem {
  const stepCount = randomInt(random, difficulty.minSteps, difficulty.maxSteps);
  let steps: ArithStep[] | null = null;
  for (let attempt = 0; attempt < ATTEMPTS_PER_PROBLEM && steps === null; attempt++) {
    const operations = Array.from({ length: stepCount }, () => randomChoice(random, difficulty.operations));
    steps = planNumbers(random, operations, difficulty);
  }
  if (steps === null) {
    throw new Error(
      `arith task: no ${stepCount}-step problem with operations [${difficulty.operations.join(' ')}], ` +
        `maxDigits ${difficulty.maxDigits} and maxResult ${difficulty.maxResult} found in ${ATTEMPTS_PER_PROBLEM} attempts; ` +
        'allow more digits, more operations, fewer steps or a larger maxResult',
    );
  }

  const theme = randomChoice(random, THEMES);
  const context = makeContext(random, theme);
  const usedTemplates = new Set<StepTemplate>();
  const templates = steps.map((step) => pickFresh(random, theme.steps[step.operation], usedTemplates));
  const question = [
    randomChoice(random, theme.openings)(context, steps[0].left),
    ...steps.map((step, i) => templates[i].question(context, step.right)),
    randomChoice(random, theme.closings)(context),
  ].join(' ');
  const finalAnswer = steps[steps.length - 1].result;
  const size = difficulty.stepsPerLine ?? 1;
  // a line is worded by the template of its last step (the sentence states the value it ends with)
  const solutionLines = linesOf(steps, size).map((line, i) =>
    templates[i * size + line.length - 1].solution(context, formatWork(line, theme, context)),
  );
  return { question, answer: `${solutionLines.join('\n')}\n#### ${finalAnswer}`, steps, finalAnswer };
}

export interface ArithGenerationOptions extends Partial<ArithDifficulty> {
  seed: number;
  /** Questions that must not be produced again (e.g. the train set when generating test). */
  exclude?: ReadonlySet<string>;
  /** Keeps only problems it accepts (held-out calculations); rejected draws are redrawn. */
  accept?: (problem: ArithProblem) => boolean;
}

/** `count` problems, deterministic given the seed and difficulty. */
export function generateArithProblems(count: number, options: ArithGenerationOptions): ArithProblem[] {
  if (!Number.isInteger(count) || count < 0) throw new Error(`arith task: count must be a non-negative integer, got ${count}`);
  const { seed, exclude, accept, ...overrides } = options;
  const difficulty = resolveArithDifficulty(overrides);
  const random = mulberry32(seed);
  const problems: ArithProblem[] = [];
  const maxDraws = count * (accept ? 400 : 20) + 1000;
  for (let draws = 0; problems.length < count; draws++) {
    if (draws >= maxDraws) {
      throw new Error(
        `arith task: only ${problems.length} of ${count} problems are new after ${maxDraws} draws; the excluded set covers most of this difficulty's problems`,
      );
    }
    const problem = generateArithProblem(random, difficulty);
    if (!exclude?.has(problem.question) && (accept?.(problem) ?? true)) problems.push(problem);
  }
  return problems;
}

/** JSONL text with one `{"question","answer"}` object per line, like the GSM8K files. */
export function toGsm8kJsonl(problems: readonly Pick<ArithProblem, 'question' | 'answer'>[]): string {
  return problems.map(({ question, answer }) => `${JSON.stringify({ question, answer })}\n`).join('');
}

export interface WriteArithTaskOptions extends Partial<ArithDifficulty> {
  /** Number of training problems. */
  train: number;
  /** Number of test problems; none of their questions occurs in the training file. */
  test: number;
  seed: number;
  /**
   * Fraction of calculations (annotation expressions, e.g. `(7*3)+5`) reserved for the test split,
   * chosen by a hash of the expression: training problems contain none of them and test problems
   * only them, so no test calculation is seen in training. 0 (default): splits share calculations.
   */
  holdOut?: number;
}

/** The calculations of a solution: its annotation expressions without spaces (`<<(7*3)+5=26>>` → `(7*3)+5`). */
export function calculationsOf(answer: string): string[] {
  return [...answer.matchAll(/<<([^>]*?)=[^=>]*>>/g)].map((m) => m[1].replace(/\s+/g, ''));
}

/** FNV-1a of the text, as a fraction in [0, 1): a fixed, seed-free draw per calculation. */
function hashFraction(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h / 2 ** 32;
}

/** Whether a calculation is reserved for the test split at this hold-out fraction. */
export function isHeldOut(calculation: string, holdOut: number): boolean {
  return holdOut > 0 && hashFraction(calculation) < holdOut;
}

export interface CalculationOverlap {
  /** distinct calculations in the test split */
  testCalculations: number;
  /** how many of them also occur in the training split */
  seenInTraining: number;
  /** seenInTraining / testCalculations */
  fraction: number;
  /** test problems with at least one calculation seen in training, and their fraction */
  testProblemsWithSeen: number;
  problemFraction: number;
}

/** How many test calculations also occur in training (by annotation expression), measured on the splits themselves. */
export function calculationOverlap(
  train: readonly { answer: string }[],
  test: readonly { answer: string }[],
): CalculationOverlap {
  const seen = new Set(train.flatMap((p) => calculationsOf(p.answer)));
  const testCalcs = new Set(test.flatMap((p) => calculationsOf(p.answer)));
  const seenInTraining = [...testCalcs].filter((c) => seen.has(c)).length;
  const testProblemsWithSeen = test.filter((p) => calculationsOf(p.answer).some((c) => seen.has(c))).length;
  return {
    testCalculations: testCalcs.size,
    seenInTraining,
    fraction: testCalcs.size ? seenInTraining / testCalcs.size : 0,
    testProblemsWithSeen,
    problemFraction: test.length ? testProblemsWithSeen / test.length : 0,
  };
}

export type ArithPresetName = 'basic' | 'chained';

/** Named tasks of the generator (the demo's), with their hold-out fraction. */
export const ARITH_PRESETS: Readonly<
  Record<ArithPresetName, { description: string; difficulty: Partial<ArithDifficulty>; holdOut: number }>
> = {
  basic: {
    description: '1–2 operations on one-digit operands, every intermediate written, results below 100',
    difficulty: { minSteps: 1, maxSteps: 2, maxDigits: 1, maxResult: 99, stepsPerLine: 1 },
    holdOut: 0,
  },
  chained: {
    description:
      'two operations per written line, `(a op b) op c`, the intermediate never written; one-digit operands, results below 100; 25% of calculations held out for test',
    difficulty: { minSteps: 2, maxSteps: 4, maxDigits: 1, maxResult: 99, stepsPerLine: 2 },
    holdOut: 0.25,
  },
};

/**
 * Writes `<dir>/train.jsonl` and `<dir>/test.jsonl` (atomically). The two splits use independent
 * streams derived from the seed, so changing `test` leaves the training file unchanged.
 */
export function writeArithTask(
  dir: string,
  options: WriteArithTaskOptions,
): { train: string; test: string; overlap: CalculationOverlap } {
  const { train: trainCount, test: testCount, seed, holdOut = 0, ...difficulty } = options;
  if (!(holdOut >= 0 && holdOut < 1)) throw new Error(`arith task: holdOut must be in [0, 1), got ${holdOut}`);
  const reserved = (p: ArithProblem) => calculationsOf(p.answer).map((c) => isHeldOut(c, holdOut));
  const train = generateArithProblems(trainCount, {
    ...difficulty,
    seed: deriveSeed(seed, 'train'),
    ...(holdOut > 0 ? { accept: (p: ArithProblem) => !reserved(p).some(Boolean) } : {}),
  });
  const test = generateArithProblems(testCount, {
    ...difficulty,
    seed: deriveSeed(seed, 'test'),
    exclude: new Set(train.map((problem) => problem.question)),
    ...(holdOut > 0 ? { accept: (p: ArithProblem) => reserved(p).every(Boolean) } : {}),
  });
  fs.mkdirSync(dir, { recursive: true });
  const files = { train: path.join(dir, 'train.jsonl'), test: path.join(dir, 'test.jsonl') };
  writeTextAtomic(files.train, toGsm8kJsonl(train));
  writeTextAtomic(files.test, toGsm8kJsonl(test));
  return { ...files, overlap: calculationOverlap(train, test) };
}
