// The course's classification pipeline ("Deployment of Machine Learning Models",
// classification_model), restated in plain JS. train.mjs fits it and writes the
// same steps as one ONNX graph; this file is the float64 reference the graph is
// checked against.
//
//   course step                                   here
//   data_manager: title from name (get_title)     titleOf()        graph: RegexFullMatch + Where
//   data_manager: first cabin (get_first_cabin)   cabinLetterOf()  graph: RegexFullMatch + Where
//   CategoricalImputer('missing')                 '' -> 'Missing'  graph: LabelEncoder
//   AddMissingIndicator(age, fare)                age_na, fare_na  graph: IsNaN + Cast
//   MeanMedianImputer(median)                     medians          graph: Imputer
//   ExtractLetterTransformer(cabin)               cabinLetterOf()  (folded into the cabin step)
//   RareLabelEncoder(tol=0.05)                    < 5% -> 'Rare'   graph: LabelEncoder (default 'Rare')
//   OneHotEncoder                                 one-hot          graph: OneHotEncoder
//   StandardScaler                                standardise all  graph: Scaler
//   LogisticRegression                            L2 logistic      graph: LinearClassifier

/** Model inputs, in the order the course's config lists its features (title and cabin come from name and cabin). */
export const NUMERIC = ['pclass', 'age', 'sibsp', 'parch', 'fare']
export const WITH_INDICATOR = ['age', 'fare']
export const CATEGORICAL = ['sex', 'cabin', 'embarked', 'title']
export const INPUTS = { pclass: 'float', name: 'string', sex: 'string', age: 'float', sibsp: 'float', parch: 'float', fare: 'float', cabin: 'string', embarked: 'string' }
export const RARE_TOL = 0.05

/**
 * The course's get_title: the first of Mrs, Mr, Miss, Master found anywhere in the name
 * (in that order, so "Mrs" wins over the "Mr" inside it), else Other.
 */
export const TITLES = ['Mrs', 'Mr', 'Miss', 'Master']
export function titleOf(name) {
  if (name === null || name === undefined) return 'Other'
  for (const t of TITLES) if (name.includes(t)) return t
  return 'Other'
}

/**
 * The course keeps the first cabin of "C22 C26" and later its first letter; the letter
 * of the first cabin is the string's first character. Missing stays '' (imputed as 'Missing').
 */
export function cabinLetterOf(cabin) {
  return cabin === null || cabin === undefined || cabin === '' ? '' : cabin[0]
}

/** The categorical values a row carries before imputation and rare grouping ('' = missing). */
export function categories(row) {
  return {
    sex: row.sex ?? '',
    cabin: cabinLetterOf(row.cabin),
    embarked: row.embarked ?? '',
    title: titleOf(row.name),
  }
}

const num = (v) => (v === null || v === undefined ? NaN : v)

function median(values) {
  const s = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

/**
 * Fits imputation, rare grouping, one-hot layout and scaling on the training rows.
 * Categories are counted after imputation ('' counts as 'Missing'), as the course's
 * CategoricalImputer runs before its RareLabelEncoder. A category below RARE_TOL of the
 * rows becomes 'Rare'; at serving time so does any category never seen in training.
 */
export function fitPreprocessing(rows) {
  const medians = NUMERIC.map((c) => median(rows.map((r) => num(r[c]))))
  const cats = rows.map(categories)
  const groups = {}
  for (const c of CATEGORICAL) {
    const counts = new Map()
    for (const r of cats) {
      const v = r[c] === '' ? 'Missing' : r[c]
      counts.set(v, (counts.get(v) ?? 0) + 1)
    }
    const frequent = [...counts].filter(([, n]) => n / rows.length >= RARE_TOL).map(([v]) => v).sort()
    const hasRare = [...counts].some(([, n]) => n / rows.length < RARE_TOL)
    groups[c] = { frequent, vocab: hasRare ? [...frequent, 'Rare'].sort() : frequent, seen: [...counts.keys()].sort() }
  }
  const group = (c, v) => {
    const key = v === '' ? 'Missing' : v
    return groups[c].frequent.includes(key) ? key : 'Rare'
  }
  const unscaled = (r) => {
    const cat = categories(r)
    const numeric = NUMERIC.map((c, j) => (Number.isNaN(num(r[c])) ? medians[j] : r[c]))
    const indicators = WITH_INDICATOR.map((c) => (Number.isNaN(num(r[c])) ? 1 : 0))
    const onehot = CATEGORICAL.flatMap((c) => groups[c].vocab.map((v) => (group(c, cat[c]) === v ? 1 : 0)))
    return [...numeric, ...indicators, ...onehot]
  }
  const X = rows.map(unscaled)
  const width = X[0].length
  const mean = Array.from({ length: width }, (_, j) => X.reduce((s, x) => s + x[j], 0) / X.length)
  const std = Array.from({ length: width }, (_, j) => Math.sqrt(X.reduce((s, x) => s + (x[j] - mean[j]) ** 2, 0) / X.length) || 1)
  const transform = (r) => unscaled(r).map((v, j) => (v - mean[j]) / std[j])
  const featureNames = [...NUMERIC, ...WITH_INDICATOR.map((c) => `${c}_na`), ...CATEGORICAL.flatMap((c) => groups[c].vocab.map((v) => `${c}_${v}`))]
  return { medians, groups, group, mean, std, transform, featureNames }
}
