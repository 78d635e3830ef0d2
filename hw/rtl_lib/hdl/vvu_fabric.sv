// fewerbits RTL layer library: vector-vector (depthwise) unit for 7-series / UltraScale fabric.
//
// FINN's VVAU (depthwise convolution) with integer inputs and weights: for every output pixel
// and channel c, acc[c] = sum_k x[k][c] * W[c][k] over the K2 = KH*KW window elements, then
// either acc itself (N_THRESHOLDS == 0, FINN's noActivation=1) or, with thresholds embedded
// (noActivation=0), ACT_VAL + #{ t : acc >= T[c][t] } (FINN's MultiThreshold with out_scale 1). Folding as FINN's VVAU: PE channels and SIMD window elements
// per input word; NF = CHANNELS/PE channel folds, SF = K2/SIMD window folds, one word per cycle.
// The input is FINN's depthwise window stream (C/PE, K2, PE); lane (s, p) of a word is
// element s*PE + p. Weights stream from FINN's memstream, word nf*SF + sf, lane (p, s) at
// bits (p*SIMD + s)*W_WIDTH. After the last window fold the PE sums leave as one word
// (OUT_WIDTH bits each, two's complement). Thresholds (signed, THRESHOLD_WIDTH bits): the ROM
// of thresholds_count.sv, entry (nf*PE + p)*N_THRESHOLDS + t for channel nf*PE + p (FINN's
// threshold memory: PE-interleaved channels, TMEM = NF rows). Multipliers are fabric logic;
// USE_DSP lets synthesis map them to DSP48 slices ("yes") or keep them in LUTs ("no").
module vvu_fabric #(
	int unsigned  PE,
	int unsigned  SIMD,
	int unsigned  CHANNELS,
	int unsigned  K2,           // window elements (KH*KW)
	int unsigned  IN_WIDTH,
	int unsigned  W_WIDTH,
	bit           IN_SIGNED,
	bit           W_SIGNED,
	int unsigned  ACC_WIDTH,    // internal sum width (>= OUT_WIDTH, holds any partial sum)
	int unsigned  OUT_WIDTH,    // width of one output element
	parameter     WEIGHT_FILE = "",
	parameter     RAM_STYLE = "auto",
	parameter     USE_DSP = "auto",
	int unsigned  N_THRESHOLDS = 0,   // 0: output the accumulator (noActivation)
	int unsigned  THRESHOLD_WIDTH = 1,
	int           ACT_VAL = 0,        // added to the threshold count
	parameter     THRESHOLD_FILE = "",

	localparam int unsigned  SF = K2 / SIMD,
	localparam int unsigned  NF = CHANNELS / PE,
	localparam int unsigned  WWIDTH = ((PE*SIMD*W_WIDTH + 3) / 4) * 4,
	localparam int unsigned  PROD_WIDTH = IN_WIDTH + W_WIDTH + 2,
	localparam int unsigned  SF_BITS = SF > 1? $clog2(SF) : 1
)(
	input	logic  clk,
	input	logic  rst,

	input	logic [PE*SIMD*IN_WIDTH-1:0]  s_tdata,
	input	logic  s_tvalid,
	output	logic  s_tready,

	output	logic [PE*OUT_WIDTH-1:0]  m_tdata,
	output	logic  m_tvalid,
	input	logic  m_tready
);

	initial begin
		if(K2 % SIMD != 0)  $error("K2=%0d is not a multiple of SIMD=%0d", K2, SIMD);
		if(CHANNELS % PE != 0)  $error("CHANNELS=%0d is not a multiple of PE=%0d", CHANNELS, PE);
		if(ACC_WIDTH < OUT_WIDTH)  $error("ACC_WIDTH=%0d < OUT_WIDTH=%0d", ACC_WIDTH, OUT_WIDTH);
	end

	// Weight stream (FINN's memstream, no runtime configuration).
	uwire  w_vld;
	uwire  w_rdy;
	uwire [WWIDTH-1:0]  w_dat;
	memstream #(.SETS(1), .DEPTH(NF*SF), .WIDTH(WWIDTH), .INIT_FILE(WEIGHT_FILE),
		.RAM_STYLE(RAM_STYLE)) weights (
		.clk, .rst,
		.config_ce(1'b0), .config_we(1'b0), .config_address('0), .config_d0('0),
		.config_rack(), .config_q0(),
		.sidx('0), .svld(1'b0), .srdy(),
		.ordy(w_rdy), .ovld(w_vld), .odat(w_dat)
	);

	// Stage 0: take one activation word together with its weight word.
	logic  OVld = 0;
	uwire  en = !OVld || m_tready;      // the output register can take a result
	uwire  fire = en && s_tvalid && w_vld;
	assign	s_tready = en && w_vld;
	assign	w_rdy = en && s_tvalid;

	logic [SF_BITS-1:0]  Sf = 0;
	always_ff @(posedge clk) begin
		if(rst)  Sf <= 0;
		else if(fire)  Sf <= (Sf == SF-1)? 0 : Sf + 1;
	end
	// channel fold of the current word (selects the thresholds)
	localparam int unsigned  NF_BITS = NF > 1? $clog2(NF) : 1;
	logic [NF_BITS-1:0]  Nf = 0;
	always_ff @(posedge clk) begin
		if(rst)  Nf <= 0;
		else if(fire && Sf == SF-1)  Nf <= (Nf == NF-1)? 0 : Nf + 1;
	end

	// Stage 1: the operands registered (and sign- or zero-extended by one bit).
	logic  V1 = 0;
	logic  First1;
	logic  Last1;
	logic [NF_BITS-1:0]  Nf1;
	logic signed [IN_WIDTH:0]  X1[PE][SIMD];
	logic signed [W_WIDTH:0]  W1[PE][SIMD];
	always_ff @(posedge clk) begin
		if(rst)  V1 <= 0;
		else if(en)  V1 <= fire;
	end
	always_ff @(posedge clk) begin
		if(fire) begin
			First1 <= Sf == 0;
			Last1 <= Sf == SF-1;
			Nf1 <= Nf;
			for(int unsigned  pe = 0; pe < PE; pe++) begin
				for(int unsigned  s = 0; s < SIMD; s++) begin
					automatic logic [IN_WIDTH-1:0]  x = s_tdata[(s*PE + pe)*IN_WIDTH +: IN_WIDTH];
					automatic logic [W_WIDTH-1:0]  w = w_dat[(pe*SIMD + s)*W_WIDTH +: W_WIDTH];
					X1[pe][s] <= {IN_SIGNED && x[IN_WIDTH-1], x};
					W1[pe][s] <= {W_SIGNED && w[W_WIDTH-1], w};
				end
			end
		end
	end

	// Stage 2: SIMD products per PE added to the running sum; after the last window fold
	// the sums go to the output register.
	logic signed [ACC_WIDTH-1:0]  Acc[PE];
	logic signed [ACC_WIDTH-1:0]  sum[PE];
	for(genvar  pe = 0; pe < PE; pe++) begin : genPE
		(* use_dsp = USE_DSP *)
		logic signed [PROD_WIDTH-1:0]  prod[SIMD];
		for(genvar  s = 0; s < SIMD; s++) begin : genLane
			assign	prod[s] = X1[pe][s] * W1[pe][s];
		end : genLane
		always_comb begin
			automatic logic signed [ACC_WIDTH-1:0]  a = First1? '0 : Acc[pe];
			for(int unsigned  s = 0; s < SIMD; s++)  a += ACC_WIDTH'(prod[s]);
			sum[pe] = a;
		end
	end : genPE

	// The output element of each PE: the sum, or its threshold count.
	logic [OUT_WIDTH-1:0]  act[PE];
	if(N_THRESHOLDS > 0) begin : genThresholds
		uwire [PE*ACC_WIDTH-1:0]  sums;
		uwire [PE*OUT_WIDTH-1:0]  counts;
		for(genvar  pe = 0; pe < PE; pe++) begin : genPE
			assign	sums[pe*ACC_WIDTH +: ACC_WIDTH] = sum[pe];
			assign	act[pe] = counts[pe*OUT_WIDTH +: OUT_WIDTH];
		end : genPE
		thresholds_count #(
			.PE(PE), .NF(NF), .N_THRESHOLDS(N_THRESHOLDS), .ACC_WIDTH(ACC_WIDTH),
			.THRESHOLD_WIDTH(THRESHOLD_WIDTH), .OUT_WIDTH(OUT_WIDTH), .ACT_VAL(ACT_VAL),
			.SIGNED(1), .THRESHOLD_FILE(THRESHOLD_FILE)
		) thresholds (.nf(Nf1), .acc(sums), .act(counts));
	end : genThresholds
	else begin : genAcc
		for(genvar  pe = 0; pe < PE; pe++) begin : genPE
			assign	act[pe] = sum[pe][OUT_WIDTH-1:0];
		end : genPE
	end : genAcc

	logic [PE*OUT_WIDTH-1:0]  ODat;
	always_ff @(posedge clk) begin
		if(en && V1) begin
			for(int unsigned  pe = 0; pe < PE; pe++) begin
				Acc[pe] <= sum[pe];
				if(Last1)  ODat[pe*OUT_WIDTH +: OUT_WIDTH] <= act[pe];
			end
		end
	end
	always_ff @(posedge clk) begin
		if(rst)  OVld <= 0;
		else if(en)  OVld <= V1 && Last1;
	end
	assign	m_tvalid = OVld;
	assign	m_tdata = ODat;

endmodule : vvu_fabric
