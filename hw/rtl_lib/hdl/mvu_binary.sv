// fewerbits RTL layer library: binary (XNOR-popcount) matrix-vector unit.
//
// For every input vector (MW bits, SIMD per beat) and every output row r (MH rows, PE per
// fold): acc[r] = #{ i : x[i] == W[r][i] } (XNOR-popcount over bipolar values coded 0/1),
// then either acc itself (N_THRESHOLDS == 0) or ACT_VAL + #{ t : acc >= T[r][t] }
// (thresholds_count.sv; one threshold: the accumulator's sign, see stage 2).
// Folding as FINN's MVAU: NF = MH/PE row folds, SF = MW/SIMD column folds; the input vector
// is buffered and replayed NF times; weights stream from a ROM (weight_stream.sv) in the
// order of FINN's memblock.dat (word nf*SF+sf, bit pe*SIMD+lane). One beat (SIMD x PE XNORs)
// per cycle when neither stream stalls.
// Cost structure (Yosys xc7): the XNORs are folded into the first level of a compressor-tree
// popcount (full adders of three lanes, 6:3 counters, then an adder tree; stage 1 below);
// with one threshold (BIPOLAR output) the accumulator starts at -T and the output is its
// sign, so there is no comparator.
module mvu_binary #(
	int unsigned  MW,
	int unsigned  MH,
	int unsigned  PE,
	int unsigned  SIMD,
	int unsigned  ACCU_WIDTH,       // width of the popcount (>= $clog2(MW+1))
	int unsigned  N_THRESHOLDS,     // 0: output the popcount (noActivation)
	int unsigned  THRESHOLD_WIDTH,  // thresholds are clipped to [0, MW+1]
	int unsigned  OUT_WIDTH,        // width of one output element
	int           ACT_VAL,          // added to the threshold count
	parameter     WEIGHT_FILE = "",
	parameter     THRESHOLD_FILE = "",
	parameter     RAM_STYLE = "auto",

	localparam int unsigned  SF = MW / SIMD,
	localparam int unsigned  NF = MH / PE,
	localparam int unsigned  WWIDTH = ((PE*SIMD + 7) / 8) * 8,
	localparam int unsigned  PC_WIDTH = $clog2(SIMD+1),
	localparam int unsigned  SF_BITS = SF > 1? $clog2(SF) : 1,
	localparam int unsigned  NF_BITS = NF > 1? $clog2(NF) : 1
)(
	input	logic  clk,
	input	logic  rst,

	input	logic [SIMD-1:0]  s_tdata,
	input	logic  s_tvalid,
	output	logic  s_tready,

	output	logic [PE*OUT_WIDTH-1:0]  m_tdata,
	output	logic  m_tvalid,
	input	logic  m_tready
);

	initial begin
		if(MW % SIMD != 0)  $error("MW=%0d is not a multiple of SIMD=%0d", MW, SIMD);
		if(MH % PE != 0)  $error("MH=%0d is not a multiple of PE=%0d", MH, PE);
		if(2**ACCU_WIDTH <= MW)  $error("ACCU_WIDTH=%0d cannot hold %0d", ACCU_WIDTH, MW);
	end

	// Weight stream (weight_stream.sv: a ROM in FINN's memblock.dat order).
	uwire  w_vld;
	uwire  w_rdy;
	uwire [WWIDTH-1:0]  w_dat;
	weight_stream #(.DEPTH(NF*SF), .WIDTH(WWIDTH), .INIT_FILE(WEIGHT_FILE), .RAM_STYLE(RAM_STYLE))
	weights (.clk, .rst, .ordy(w_rdy), .ovld(w_vld), .odat(w_dat));

	// Stage 0: issue one beat (activation word + weight word).
	logic [SF_BITS-1:0]  Sf = 0;
	logic [NF_BITS-1:0]  Nf = 0;
	uwire  first_fold = Nf == 0;
	uwire [SIMD-1:0]  a_dat;
	if(NF > 1) begin : genReplay
		logic [SIMD-1:0]  IBuf[SF];
		always_ff @(posedge clk) begin
			if(s_tvalid && s_tready)  IBuf[Sf] <= s_tdata;
		end
		assign	a_dat = first_fold? s_tdata : IBuf[Sf];
	end : genReplay
	else begin : genNoReplay
		assign	a_dat = s_tdata;
	end : genNoReplay
	uwire  a_vld = first_fold? s_tvalid : 1;

	logic  OVld = 0;
	uwire  en = !OVld || m_tready;      // the output register can take a result
	uwire  fire = en && a_vld && w_vld;
	assign	s_tready = en && w_vld && first_fold;
	assign	w_rdy = en && a_vld;

	always_ff @(posedge clk) begin
		if(rst) begin
			Sf <= 0;
			Nf <= 0;
		end
		else if(fire) begin
			if(Sf == SF-1) begin
				Sf <= 0;
				Nf <= (Nf == NF-1)? 0 : Nf + 1;
			end
			else  Sf <= Sf + 1;
		end
	end

	// Stage 1: XNOR-popcount of one beat per PE, as a compressor tree of LUT6 functions:
	//  - level 0: lanes in groups of three; a group's count (0..3) as a sum bit (weight 1)
	//    and a carry bit (weight 2), each a function of the three (x, w) pairs: 2 LUT6;
	//  - level 1: six groups (18 lanes) a block; the six sum bits and the six carry bits each
	//    counted by a 6:3 counter (3 LUT6 each); block count = S + 2*C (0..18, one adder);
	//  - then (stage 1b, after a register) the block counts added pairwise (carry chains).
	// All of it is written as logic (no + below the block adder), so synthesis maps each
	// output bit of a 6-input cone to one LUT6.
	localparam int unsigned  GROUPS = (SIMD + 2) / 3;
	localparam int unsigned  BLOCKS = (GROUPS + 5) / 6;
	localparam int unsigned  LEVELS = BLOCKS > 1? $clog2(BLOCKS) : 0;

	function automatic logic [1:0] full_add(input logic  a, b, c);   // {carry, sum}
		return  {(a & b) | (a & c) | (b & c), a ^ b ^ c};
	endfunction : full_add

	function automatic logic [2:0] count6(input logic [5:0] v);     // 6:3 counter
		automatic logic [1:0]  lo = full_add(v[0], v[1], v[2]);
		automatic logic [1:0]  hi = full_add(v[3], v[4], v[5]);
		automatic logic [1:0]  c2 = full_add(lo[1], hi[1], lo[0] & hi[0]);
		return  {c2, lo[0] ^ hi[0]};
	endfunction : count6

	// the count of block b (lanes 18*b ... 18*b+17) of one PE's XNORs
	function automatic logic [PC_WIDTH-1:0] block_count(input logic [SIMD-1:0] a, w, int unsigned  b);
		automatic logic [5:0]  sums = '0;
		automatic logic [5:0]  carries = '0;
		for(int unsigned  g = 0; g < 6; g++) begin
			automatic logic [2:0]  x = '0;
			for(int unsigned  k = 0; k < 3; k++) begin
				if(18*b + 3*g + k < SIMD)  x[k] = a[18*b + 3*g + k] ~^ w[18*b + 3*g + k];
			end
			{carries[g], sums[g]} = full_add(x[0], x[1], x[2]);
		end
		return  PC_WIDTH'(count6(sums)) + PC_WIDTH'({count6(carries), 1'b0});
	endfunction : block_count

	// the sum of the block counts: a balanced adder tree
	typedef logic [PC_WIDTH-1:0]  blocks_t[BLOCKS];
	function automatic logic [PC_WIDTH-1:0] add_blocks(input blocks_t  blk);
		automatic blocks_t  v = blk;
		for(int unsigned  l = 0; l < LEVELS; l++) begin
			// level l: ceil(BLOCKS / 2**l) partial counts, pairs added (an odd last one moves)
			for(int unsigned  i = 0; 2*i < (BLOCKS + 2**l - 1) >> l; i++) begin
				if(2*i + 1 < (BLOCKS + 2**l - 1) >> l)  v[i] = v[2*i] + v[2*i + 1];
				else  v[i] = v[2*i];
			end
		end
		return  v[0];
	endfunction : add_blocks

	// The beat's control through stages 1a and 1b (valid, first/last column fold, row fold).
	typedef struct packed {
		logic  vld;
		logic  first;
		logic  last;
		logic [NF_BITS-1:0]  nf;
	} ctrl_t;
	ctrl_t  Q1 = '0;
	ctrl_t  P1 = '0;
	always_ff @(posedge clk) begin
		if(rst) begin
			Q1 <= '0;
			P1 <= '0;
		end
		else if(en) begin
			Q1 <= '{vld: fire, first: Sf == 0, last: Sf == SF-1, nf: Nf};
			P1 <= Q1;
		end
	end

	// Stage 1a: the block counts registered (each a few LUT6 levels from the operands) ...
	blocks_t  Q1Blk[PE];
	for(genvar  pe = 0; pe < PE; pe++) begin : genBlocks
		for(genvar  b = 0; b < BLOCKS; b++) begin : genBlock
			always_ff @(posedge clk) begin
				if(en)  Q1Blk[pe][b] <= block_count(a_dat, w_dat[pe*SIMD +: SIMD], b);
			end
		end : genBlock
	end : genBlocks

	// ... stage 1b: their sum per PE.
	logic [PC_WIDTH-1:0]  P1Pc[PE];
	for(genvar  pe = 0; pe < PE; pe++) begin : genAdd
		always_ff @(posedge clk) begin
			if(en)  P1Pc[pe] <= add_blocks(Q1Blk[pe]);
		end
	end : genAdd

	// Stage 2: accumulate; after the last column fold, threshold into the output register.
	// One threshold (BIPOLAR output): the accumulator (one bit wider, two's complement)
	// starts at -T and the output is 1 iff it ends >= 0, i.e. popcount >= T (T in [0, MW+1]
	// so the sum stays within [-2**ACCU_WIDTH, 2**ACCU_WIDTH)). Several thresholds: the
	// popcount compared with each, unsigned (thresholds_count.sv, as vvu_fabric.sv uses it).
	localparam bit  SIGN_THRESHOLD = N_THRESHOLDS == 1;
	localparam int unsigned  SUM_WIDTH = ACCU_WIDTH + (SIGN_THRESHOLD? 1 : 0);
	logic [SUM_WIDTH-1:0]  Acc[PE];
	uwire [SUM_WIDTH-1:0]  init[PE];     // the accumulator's value before the first fold
	uwire [SUM_WIDTH-1:0]  sum[PE];
	logic [OUT_WIDTH-1:0]  act[PE];
	logic [PE*OUT_WIDTH-1:0]  ODat;
	if(SIGN_THRESHOLD) begin : genSign
		logic [THRESHOLD_WIDTH-1:0]  Thr[NF*PE];
		initial $readmemh(THRESHOLD_FILE, Thr);
		for(genvar  pe = 0; pe < PE; pe++) begin : genPE
			assign	init[pe] = -SUM_WIDTH'(Thr[P1.nf*PE + pe]);
			assign	act[pe] = OUT_WIDTH'(ACT_VAL + (sum[pe][SUM_WIDTH-1]? 0 : 1));
		end : genPE
	end : genSign
	else if(N_THRESHOLDS > 1) begin : genThresholds
		uwire [PE*SUM_WIDTH-1:0]  sums;
		uwire [PE*OUT_WIDTH-1:0]  counts;
		for(genvar  pe = 0; pe < PE; pe++) begin : genPE
			assign	init[pe] = '0;
			assign	sums[pe*SUM_WIDTH +: SUM_WIDTH] = sum[pe];
			assign	act[pe] = counts[pe*OUT_WIDTH +: OUT_WIDTH];
		end : genPE
		thresholds_count #(
			.PE(PE), .NF(NF), .N_THRESHOLDS(N_THRESHOLDS), .ACC_WIDTH(SUM_WIDTH),
			.THRESHOLD_WIDTH(THRESHOLD_WIDTH), .OUT_WIDTH(OUT_WIDTH), .ACT_VAL(ACT_VAL),
			.SIGNED(0), .THRESHOLD_FILE(THRESHOLD_FILE)
		) thresholds (.nf(P1.nf), .acc(sums), .act(counts));
	end : genThresholds
	else begin : genPopcount
		for(genvar  pe = 0; pe < PE; pe++) begin : genPE
			assign	init[pe] = '0;
			assign	act[pe] = OUT_WIDTH'(sum[pe]);
		end : genPE
	end : genPopcount
	for(genvar  pe = 0; pe < PE; pe++) begin : genSum
		assign	sum[pe] = (P1.first? init[pe] : Acc[pe]) + SUM_WIDTH'(P1Pc[pe]);
	end : genSum
	for(genvar  pe = 0; pe < PE; pe++) begin : genAcc
		always_ff @(posedge clk) begin
			if(en && P1.vld) begin
				Acc[pe] <= sum[pe];
				if(P1.last)  ODat[pe*OUT_WIDTH +: OUT_WIDTH] <= act[pe];
			end
		end
	end : genAcc

	always_ff @(posedge clk) begin
		if(rst)  OVld <= 0;
		else if(en)  OVld <= P1.vld && P1.last;
	end
	assign	m_tvalid = OVld;
	assign	m_tdata = ODat;

endmodule : mvu_binary
