"""The functions a query may call: allow-lists, not block-lists.

A function runs only if it is known to compute a value from its arguments and nothing else: it reads no
file, setting, catalogue or session state, sleeps on no clock and writes nothing. Two lists decide it:

- :data:`ALLOWED_TYPED`: sqlglot's typed function classes that are pure (``Sum``, ``DateTrunc``,
  ``RegexpLike``...). sqlglot maps many spellings onto one class (``version()`` parses as
  ``CurrentVersion``), so deciding by class sees through aliases. The full set of classes of the pinned
  sqlglot is snapshotted in the tests: an upgrade that adds a class fails them until it is reviewed here.
- :data:`ALLOWED_NAMES`: names sqlglot leaves untyped (``Anonymous``), per dialect.

:data:`DANGEROUS_NAMES` / :data:`DANGEROUS_PREFIXES` only *classify* a refusal: a call to one of them is an
attempt to leave the datasource (never sent back to the writer for repair), any other unknown function is
probably a mistake the writer can fix.
"""

from __future__ import annotations

from sqlglot import exp

from datasources.duckdb_check import Rules
from datasources.schema import Dialect

ALLOWED_TYPED: frozenset[str] = frozenset(
    """
    Abs Acos Acosh AddMonths And AnyValue ApproxDistinct ApproxQuantile ApproxQuantiles ApproxTopK ArgMax ArgMin
    Array ArrayAgg ArrayAll ArrayAny ArrayAppend ArrayCompact ArrayConcat ArrayConcatAgg ArrayConstructCompact
    ArrayContainedBy ArrayContains ArrayContainsAll ArrayDistinct ArrayExcept ArrayFilter ArrayFirst ArrayInsert
    ArrayIntersect ArrayLast ArrayMax ArrayMin ArrayOverlaps ArrayPosition ArrayPrepend ArrayRemove ArrayRemoveAt
    ArrayReverse ArraySize ArraySlice ArraySort ArraySum ArrayToString ArrayUnionAgg ArrayUniqueAgg ArraysZip
    Ascii Asin Asinh Atan Atan2 Atanh Avg BitLength BitwiseAndAgg BitwiseCount BitwiseOrAgg BitwiseXorAgg
    Booland Boolnot Boolor BoolxorAgg ByteLength Case Cast CastToStrType Cbrt Ceil Chr Coalesce Collate Columns
    Concat ConcatWs Contains Convert ConvertTimezone Corr Cos Cosh CosineDistance Cot Coth Count CountIf
    CovarPop CovarSamp Csc Csch CumeDist CurrentDate CurrentDatetime CurrentTime CurrentTimestamp
    CurrentTimestampLTZ Date DateAdd DateBin DateDiff DateFromParts DateFromUnixDate DateStrToDate DateSub
    DateToDateStr DateToDi DateTrunc Datetime DatetimeAdd DatetimeDiff DatetimeSub DatetimeTrunc Day DayOfMonth
    DayOfWeek DayOfWeekIso DayOfYear Dayname DecodeCase Degrees DenseRank DiToDate DotProduct Elt EndsWith
    EqualNull EuclideanDistance Exists Exp Explode ExplodingGenerateSeries Extract Factorial First FirstValue
    Flatten Floor Format GenerateDateArray GenerateSeries GenerateTimestampArray Greatest GroupConcat Grouping
    GroupingId Hex Hour If Initcap IsArray IsAscii IsInf IsNan JSONArray JSONArrayAgg JSONBExtract
    JSONBExtractScalar JSONExtract JSONExtractArray JSONExtractScalar JSONFormat JSONKeys JSONObject JSONObjectAgg
    JSONType JarowinklerSimilarity JustifyDays JustifyHours JustifyInterval Kurtosis Lag Last LastDay LastValue
    Lead Least Left Length Levenshtein List Ln Localtime Localtimestamp Log LogicalAnd LogicalOr Lower MD5
    MakeInterval ManhattanDistance Map MapFromEntries MapKeys MapSize Max Median Min Minute Mode Month Monthname
    MonthsBetween Nanvl Negative NextDay NthValue Ntile Nullif NumberToStr Nvl2 Or Overlay Pad ParseDatetime
    ParseJSON PercentRank PercentileCont PercentileDisc Pi Posexplode Pow PreviousDay Quantile Quarter Radians
    Rand Randn Rank Reduce RegexpCount RegexpExtract RegexpExtractAll RegexpFullMatch RegexpILike RegexpInstr
    RegexpLike RegexpReplace RegexpSplit RegexpSubstr RegrAvgx RegrAvgy RegrCount RegrIntercept RegrR2 RegrSlope
    RegrSxx RegrSxy RegrSyy RegrValx RegrValy Repeat Replace Reverse Right Rint Round RowNumber SHA SHA2 SafeAdd
    SafeDivide SafeMultiply SafeNegate SafeSubtract Sec Sech Second Sign Sin Sinh Skewness Soundex Space Split
    SplitPart Sqrt StartsWith Stddev StddevPop StddevSamp StrPosition StrToDate StrToTime StrToUnix String
    StringToArray Struct StructExtract Stuff Substring SubstringIndex Sum Systimestamp Tan Tanh Time TimeAdd
    TimeDiff TimeFromParts TimeStrToDate TimeStrToTime TimeStrToUnix TimeSub TimeToStr TimeToTimeStr TimeToUnix
    TimeTrunc Timestamp TimestampAdd TimestampDiff TimestampFromParts TimestampSub TimestampTrunc ToArray
    ToBase64 ToBoolean ToChar ToDays ToDouble ToNumber Transform Translate Trim Trunc Try TryCast TsOrDiToDi
    TsOrDsAdd TsOrDsDiff TsOrDsToDate TsOrDsToDateStr TsOrDsToDatetime TsOrDsToTime TsOrDsToTimestamp Typeof
    Unhex Unicode UnixDate UnixMicros UnixMillis UnixSeconds UnixToStr UnixToTime UnixToTimeStr Unnest Upper
    UtcDate UtcTime UtcTimestamp Uuid Variance VariancePop Week WeekOfYear WeekStart WidthBucket Xor Year
    YearOfWeek YearOfWeekIso
    """.split()
)

_COMMON = """
    abs ceil ceiling floor round trunc truncate sign sqrt cbrt exp ln log log10 log2 pow power mod div pi degrees
    radians sin cos tan asin acos atan atan2 cot greatest least coalesce nullif ifnull nvl iif if isnan isinf
    isfinite random rand
    lower upper lcase ucase length char_length character_length octet_length bit_length substr substring mid trim
    ltrim rtrim btrim replace concat concat_ws left right lpad rpad instr position strpos locate reverse repeat
    ascii chr char initcap translate split_part format printf regexp_replace regexp_matches regexp_extract
    regexp_like regexp_substr regexp_count regexp_instr regexp_match starts_with ends_with contains prefix suffix
    md5 sha256 hash
    count sum avg min max total group_concat string_agg listagg median mode stddev stddev_samp stddev_pop std
    variance var_samp var_pop corr covar_samp covar_pop bool_and bool_or every count_if countif any_value first
    last arg_max arg_min argmax argmin max_by min_by product quantile quantile_cont quantile_disc
    percentile_cont percentile_disc approx_count_distinct approx_quantile entropy kurtosis skewness fsum favg
    sumkahan kahan_sum regr_avgx regr_avgy regr_count regr_intercept regr_r2 regr_slope regr_sxx regr_sxy
    regr_syy bit_and bit_or bit_xor array_agg
    row_number rank dense_rank percent_rank cume_dist ntile lag lead first_value last_value nth_value
    date time datetime timestamp date_trunc date_part datepart date_diff datediff date_add date_sub adddate subdate
    date_format str_to_date strptime strftime make_date make_time make_timestamp make_interval to_timestamp
    to_date to_char to_number epoch epoch_ms epoch_us year month day dayofmonth dayofweek dayofyear weekday week
    weekofyear yearweek quarter hour minute second millisecond microsecond dayname monthname last_day age
    timestampdiff timestampadd unix_timestamp from_unixtime curdate curtime now current_date current_time
    current_timestamp localtime localtimestamp extract isodow isoyear century decade
    cast try_cast typeof
    """
_PER_DIALECT: dict[Dialect, str] = {
    "duckdb": """
        list list_value list_sort list_reverse_sort list_distinct list_unique list_contains list_has list_has_any
        list_has_all list_aggregate list_aggr list_transform list_filter list_reduce list_slice list_extract
        list_element list_concat list_position list_sum list_avg list_min list_max array_length array_to_string
        array_contains array_position len flatten unnest struct_pack struct_extract string_split str_split
        string_split_regex string_to_array regexp_split_to_array range generate_series time_bucket date_sub
        histogram arbitrary list_cosine_similarity jaro_winkler_similarity levenshtein damerau_levenshtein
        hamming jaccard editdist3 like_escape ilike_escape nullif json_extract json_extract_string json_value
        json_array_length json_object json_array json_keys to_json
        """,
    "sqlite": """
        julianday unixepoch glob like likely unlikely char hex unhex quote
        json json_extract json_array json_object json_array_length json_type json_valid json_group_array
        json_group_object iif nullif
        """,
    "postgres": """
        date_bin justify_days justify_hours justify_interval width_bucket cardinality array_length array_to_string
        array_position unnest generate_series regexp_split_to_array string_to_array split_part to_char initcap
        json_build_object json_build_array jsonb_build_object json_agg jsonb_agg json_extract_path_text
        jsonb_extract_path_text gen_random_uuid
        """,
    "mysql": """
        makedate maketime period_diff period_add to_days from_days sec_to_time time_to_sec time_format
        field elt conv bin oct json_extract json_unquote json_object json_array json_length uuid
        """,
}
ALLOWED_NAMES: dict[Dialect, frozenset[str]] = {
    dialect: frozenset((_COMMON + extra).split())
    for dialect, extra in _PER_DIALECT.items()
}
"""Untyped (``Anonymous``) function names a query may call, per dialect (lower case)."""

SAFE_TABLE_FUNCTIONS: tuple[type[exp.Expression], ...] = (exp.Unnest, exp.GenerateSeries, exp.ExplodingGenerateSeries)
"""The only functions a query may read rows FROM: they generate values, they read nothing."""
SAFE_TABLE_FUNCTION_NAMES = frozenset({"range", "generate_series", "unnest"})

DANGEROUS_NAMES = frozenset(
    """
    getenv current_setting set_config glob query query_table query_table_by_name sniff_csv load_extension readfile
    writefile edit fts3_tokenizer which_secret checkpoint force_checkpoint set_variable getvariable current_database
    current_schemas current_catalog current_schema current_user session_user current_role version sqlite_version
    pg_read_file pg_read_binary_file pg_ls_dir pg_stat_file lo_import lo_export lo_get dblink dblink_exec load_file
    sleep sleep_ms pg_sleep pg_sleep_for pg_sleep_until benchmark get_lock release_lock is_free_lock system shell
    http_get http_post enable_logging disable_logging enable_profiling txid_current pg_terminate_backend
    pg_cancel_backend pg_reload_conf inet_server_addr inet_client_addr user database schema connection_id
    master_pos_wait sys_exec sys_eval
    """.split()
)
DANGEROUS_PREFIXES = (
    "read_", "duckdb_", "pragma_", "sqlite_", "parquet_", "iceberg_", "delta_", "postgres_", "mysql_", "pg_",
    "json_execute", "http_", "arrow_", "icu_", "test_", "lo_", "dblink", "current_", "sys_", "system_",
)
_DANGEROUS_TYPED = frozenset(
    {"ReadCSV", "ReadParquet", "Secret", "ToFile", "DynamicIdentifier", "NextValueFor", "SessionUser"}
)


def function_name(node: exp.Func) -> str:
    """The name a person would recognise: the called name for untyped functions, sqlglot's for typed ones."""
    if isinstance(node, (exp.Anonymous, exp.AnonymousAggFunc)):
        return str(node.name).lower()
    return node.sql_name().lower()


def is_allowed(node: exp.Func, dialect: Dialect) -> bool:
    """Whether ``node`` is a call of a function known to be pure in ``dialect``."""
    if isinstance(node, (exp.Anonymous, exp.AnonymousAggFunc)):
        return str(node.name).lower() in ALLOWED_NAMES[dialect]
    return type(node).__name__ in ALLOWED_TYPED


def is_dangerous(node: exp.Func) -> bool:
    """Whether a refused call reaches for files, settings, catalogues, sessions or time (never repaired)."""
    if type(node).__name__ in _DANGEROUS_TYPED or type(node).__name__.startswith(("Current", "AI", "ML")):
        return True
    name = function_name(node)
    return name in DANGEROUS_NAMES or name.startswith(DANGEROUS_PREFIXES) or name.endswith(("_scan", "_metadata"))


def second_line_rules(dialect: Dialect) -> Rules:
    """The lists the database-side check (:mod:`datasources.duckdb_check`, the SQLite authorizer) decides by."""
    return Rules(
        allowed_functions=sorted(ALLOWED_NAMES[dialect]),
        dangerous_functions=sorted(DANGEROUS_NAMES),
        dangerous_prefixes=list(DANGEROUS_PREFIXES),
        table_functions=sorted(SAFE_TABLE_FUNCTION_NAMES),
    )
